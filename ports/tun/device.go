//go:build linux

package tun

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
	wgtun "golang.zx2c4.com/wireguard/tun"

	"github.com/sabre-ipsec/sabre/ipsec"
	"github.com/sabre-ipsec/sabre/pktbuf"
)

// Defaults of Config.
const (
	DefaultName     = "sabre0"
	DefaultMTU      = 1400
	DefaultPathMTU  = 1500
	DefaultIKEPort  = 500
	DefaultNATTPort = ipsec.NATTPort
)

// readOffset is where packets are read into a buffer: the engine's headroom
// in front of them for ESP, UDP and outer IP headers.
const readOffset = pktbuf.DefaultHeadroom

// tunWriteOffset is the offset inner packets are handed to the TUN at. The
// TUN's virtio-net header (10 bytes) is written in front of the packet, so
// the packet must start at least that far into the slice.
const tunWriteOffset = 16

// IKEHandler receives an IKE message that arrived on local from remote:
// every datagram on the IKE port, and those on the NAT-T port that start
// with the non-ESP marker (RFC 3948 §2.2), with the marker removed. msg is
// valid only during the call. It runs on the socket's reader, which on the
// NAT-T port also carries ESP: it must not block ((*ike.Daemon).Enqueue
// queues a copy for the daemon's workers).
type IKEHandler func(msg []byte, local, remote netip.AddrPort)

// Config configures a Device.
type Config struct {
	// Name of the TUN interface; DefaultName when empty.
	Name string
	// MTU of the TUN interface, the largest inner packet; DefaultMTU when 0.
	MTU int
	// PathMTU is the largest outer packet the path to the peers carries;
	// DefaultPathMTU when 0. An inner packet that would exceed it once
	// secured is dropped, and its sender gets an ICMP "fragmentation
	// needed" or "packet too big" with the MTU that fits (see tooBig).
	PathMTU int
	// Engine secures the packets read from the TUN and opens those received.
	Engine *ipsec.Engine
	// IKE receives IKE messages; without it they are counted and dropped.
	IKE IKEHandler
	// FwMark, when not zero, is set (SO_MARK) on every socket of the device
	// so that policy routing can tell its packets from those to be tunneled.
	FwMark uint32
	// IKEPort and NATTPort are the UDP ports to listen on; DefaultIKEPort
	// and DefaultNATTPort when 0. The engine's NATTPorts must include
	// NATTPort.
	IKEPort, NATTPort uint16
	// Logger receives the device's logs; slog.Default() when nil.
	Logger *slog.Logger
	// Forwarding, if set, counts opened tunnel-mode packets for other
	// hosts while the kernel does not forward (see Forwarding).
	Forwarding *Forwarding
}

// Device is a TUN interface bound to an ipsec.Engine and the sockets that
// carry the protected traffic. Open starts it; Close stops it.
type Device struct {
	cfg     Config
	log     *slog.Logger
	engine  *ipsec.Engine
	tun     wgtun.Device
	name    string
	mtu     int
	pathMTU int

	// raw[family][protocol]: the ESP and AH sockets of IPv4 and IPv6; nil
	// where the family is not available.
	raw [2][2]*rawConn
	// udp[family][port]: the UDP sockets on the IKE and NAT-T ports.
	udp [2][2]*udpConn

	stats  Stats
	closed atomic.Bool
	wg     sync.WaitGroup
}

// Family, protocol and port indexes of Device.raw and Device.udp.
const (
	fam4, fam6 = 0, 1
	rawESP     = 0
	rawAH      = 1
	udpIKE     = 0
	udpNATT    = 1
)

// Open creates the TUN interface, brings it up, opens the sockets and starts
// moving packets. It needs CAP_NET_ADMIN and CAP_NET_RAW.
func Open(cfg Config) (*Device, error) {
	if cfg.Engine == nil {
		return nil, errors.New("tun: Config.Engine is nil")
	}
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	if cfg.MTU == 0 {
		cfg.MTU = DefaultMTU
	}
	if cfg.MTU < 576 || cfg.MTU > pktbuf.MaxPacket {
		return nil, fmt.Errorf("tun: MTU %d not in 576..%d", cfg.MTU, pktbuf.MaxPacket)
	}
	if cfg.PathMTU == 0 {
		cfg.PathMTU = DefaultPathMTU
	}
	if cfg.IKEPort == 0 {
		cfg.IKEPort = DefaultIKEPort
	}
	if cfg.NATTPort == 0 {
		cfg.NATTPort = DefaultNATTPort
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	d := &Device{cfg: cfg, engine: cfg.Engine, mtu: cfg.MTU, pathMTU: cfg.PathMTU}
	if err := d.open(); err != nil {
		d.closeAll()
		return nil, err
	}
	d.log = cfg.Logger.With("tun", d.name)
	d.start()
	return d, nil
}

func (d *Device) open() error {
	t, err := wgtun.CreateTUN(d.cfg.Name, d.cfg.MTU)
	if err != nil {
		return fmt.Errorf("tun: create %q: %w", d.cfg.Name, err)
	}
	d.tun = t
	if d.name, err = t.Name(); err != nil {
		return fmt.Errorf("tun: name of %q: %w", d.cfg.Name, err)
	}
	// No IPv6 link-local address: the TUN is a layer-3 tunnel, and the
	// router solicitations and MLD reports the kernel would send from
	// it match no policy and only fill the drop counters. Global
	// addresses the operator adds still work. Fails harmlessly where
	// IPv6 is off.
	_ = os.WriteFile("/proc/sys/net/ipv6/conf/"+d.name+"/addr_gen_mode", []byte("1"), 0)
	if err := setLinkUp(d.name); err != nil {
		return err
	}
	for fam := range d.raw {
		for proto := range d.raw[fam] {
			c, err := listenRaw(fam == fam6, proto == rawAH, d.cfg.FwMark)
			if err != nil {
				if fam == fam6 && errors.Is(err, unix.EAFNOSUPPORT) {
					continue // no IPv6 in this kernel or namespace
				}
				return err
			}
			d.raw[fam][proto] = c
		}
	}
	for fam := range d.udp {
		for port, p := range []uint16{d.cfg.IKEPort, d.cfg.NATTPort} {
			c, err := listenUDP(fam == fam6, p, d.cfg.FwMark)
			if err != nil {
				if fam == fam6 && errors.Is(err, unix.EAFNOSUPPORT) {
					continue
				}
				return err
			}
			d.udp[fam][port] = c
		}
	}
	return nil
}

// start launches one reader per socket and one for the TUN. Each reader
// processes its batch itself: encryption and decryption run in the
// reader, so the two directions and the sockets proceed in parallel.
func (d *Device) start() {
	d.wg.Add(1)
	go d.routineReadTUN()
	for fam := range d.raw {
		for _, c := range d.raw[fam] {
			if c != nil {
				d.wg.Add(1)
				go d.routineReadRaw(c)
			}
		}
	}
	for fam := range d.udp {
		for port, c := range d.udp[fam] {
			if c != nil {
				d.wg.Add(1)
				go d.routineReadUDP(c, port == udpNATT)
			}
		}
	}
}

// Name returns the TUN interface's name.
func (d *Device) Name() string { return d.name }

// MTU returns the TUN interface's MTU.
func (d *Device) MTU() int { return d.mtu }

// Stats returns the device's counters.
func (d *Device) Stats() *Stats { return &d.stats }

// Close stops the readers and closes the TUN interface (which removes it)
// and the sockets.
func (d *Device) Close() error {
	if d.closed.Swap(true) {
		return nil
	}
	err := d.closeAll()
	d.wg.Wait()
	return err
}

func (d *Device) closeAll() error {
	d.closed.Store(true)
	var errs []error
	if d.tun != nil {
		errs = append(errs, d.tun.Close())
	}
	for fam := range d.raw {
		for _, c := range d.raw[fam] {
			if c != nil {
				errs = append(errs, c.Close())
			}
		}
	}
	for fam := range d.udp {
		for _, c := range d.udp[fam] {
			if c != nil {
				errs = append(errs, c.Close())
			}
		}
	}
	return errors.Join(errs...)
}

// readFailed decides what a reader does after a read error: it stops when
// the device is closing and otherwise logs and goes on.
func (d *Device) readFailed(what string, err error) (stop bool) {
	if d.closed.Load() {
		return true
	}
	d.stats.ReadErrors.Add(1)
	d.log.Warn("read failed", "from", what, "err", err)
	return false
}

// setLinkUp sets IFF_UP on the interface.
func setLinkUp(name string) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("tun: bring %s up: %w", name, err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return fmt.Errorf("tun: bring %s up: %w", name, err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("tun: flags of %s: %w", name, err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("tun: bring %s up: %w", name, err)
	}
	return nil
}

// slots are the buffers a reader reads a batch into, kept for the reader's
// lifetime. storage remembers each buffer's array: the engine may move a
// packet to a larger one (headroom exhausted) or hand back a reassembled
// datagram in another, and the next read goes to the original again.
type slots struct {
	bufs    []*pktbuf.Buffer
	storage [][]byte
}

func newSlots(n int) *slots {
	s := &slots{bufs: make([]*pktbuf.Buffer, n), storage: make([][]byte, n)}
	for i := range s.bufs {
		s.bufs[i] = pktbuf.DefaultPool.Get()
		s.storage[i] = s.bufs[i].Storage()
	}
	return s
}

// reset points buffer i at its own storage, holding the n bytes at off.
func (s *slots) reset(i, off, n int) *pktbuf.Buffer {
	b := s.bufs[i]
	b.Reset(s.storage[i], off, n)
	return b
}
