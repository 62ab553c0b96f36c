package main

// `sabre run` is the daemon: an IPsec engine behind a TUN device
// (ports/tun), configured by an ike_rc file and at run time through the
// control socket (control.go).
//
// Start it; it routes each tunnel policy's -d subnets into the TUN and
// gives the TUN the -address prefixes, and both go with the device
// (operator.go, setup.go; -routes=false leaves routing to the operator, and
// transport mode needs policy routing, see package ports/tun):
//
//	sabre run -rc /etc/sabre/ike_rc -ready-file /run/sabre/ready &
//	sabre ipsec netstat -a
//
// with an ike_rc such as
//
//	ipsec policy -n p1 -t ESP -m tunnel -r 192.0.2.2 -s 10.1.0.0/24 -d 10.2.0.0/24 -e AES128-GCM16 -o
//	ipsec addsa -n p1 -e AES128-GCM16 -f <in key> -g <out key> -w <in spi> -x <out spi>
//
// Signals: SIGINT and SIGTERM stop the daemon (the TUN device and the
// socket go away); SIGHUP reloads the ike_rc file (cli.Env.ReloadRC: only
// what changed is changed; established tunnels of unchanged parts keep
// running). `sabre run -check -rc FILE` checks a file without a daemon.
//
// With -msgsock PATH the daemon also serves the reference's messaging
// interface (msgsock.go) to key managers in other processes: policies
// without an IKE remote (-g) get their SAs from them.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/sabre-ipsec/sabre/classify"
	"github.com/sabre-ipsec/sabre/cli"
	"github.com/sabre-ipsec/sabre/header"
	"github.com/sabre-ipsec/sabre/ike"
	"github.com/sabre-ipsec/sabre/ipsec"
	"github.com/sabre-ipsec/sabre/ipsec/messaging"
	"github.com/sabre-ipsec/sabre/pktbuf"
	"github.com/sabre-ipsec/sabre/ports/tun"
	"github.com/sabre-ipsec/sabre/sad"
	"github.com/sabre-ipsec/sabre/spd"
)

// ikeBypassPriority is the priority of the IKE bypass policies: 2, above
// the default 4 of the operator's policies, as the reference installs them
// (§4.4) so that IKE is never caught by a policy that needs IKE's SAs.
const ikeBypassPriority = spd.PriorityHigh

// Bounds of -mtu and -pathmtu: IPv4's minimum (RFC 791) to the largest IP
// packet.
const (
	minMTU = 68
	maxMTU = 65535
)

// Bounds of -ike-workers and -ike-queue: more workers than that only add
// goroutines contending for the CPUs, a longer queue only holds messages
// their initiators have given up on.
const (
	maxIKEWorkers = 1024
	minIKEQueue   = 2
	maxIKEQueue   = 1 << 20
)

// daemonConfig is what the flags of `sabre run` say.
type daemonConfig struct {
	trace    io.Writer // where `ike debug -t` writes its message dumps
	op       operatorConfig
	rc       string
	tunName  string
	sock     string
	msgsock  string
	mtu      int
	pathMTU  int
	addr     netip.Addr
	fwmark   uint32
	showKeys bool
	verbose  bool
	check    bool
	cpuprof  string
	// ikeWorkers and ikeQueue are ike.Config's Workers and QueueLen.
	ikeWorkers, ikeQueue int
}

func parseRunFlags(args []string, stderr io.Writer) (*daemonConfig, error) {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &daemonConfig{}
	fs.StringVar(&c.rc, "rc", "", "ike_rc file to run at start and reload on SIGHUP")
	fs.StringVar(&c.tunName, "tun", tun.DefaultName, "name of the TUN interface")
	fs.StringVar(&c.sock, "sock", defaultSocket, "control socket")
	fs.StringVar(&c.msgsock, "msgsock", "", "messaging socket for external key managers (the reference's 8-octet messaging protocol, package ipsec/messaging/wire; 0600 in a 0700 directory); none when empty")
	fs.IntVar(&c.mtu, "mtu", tun.DefaultMTU, "MTU of the TUN interface (inner packets)")
	fs.IntVar(&c.pathMTU, "pathmtu", tun.DefaultPathMTU, "MTU of the path to the peers (outer packets); larger ones get ICMP too-big back")
	addr := fs.String("addr", "", "this host's outer address (default: the kernel's source address toward each peer)")
	mark := fs.String("fwmark", "0", "SO_MARK for the daemon's sockets (hex with 0x), for policy routing in transport mode")
	fs.BoolVar(&c.showKeys, "show-keys", false, "let `ipsec netstat -k` print key material")
	fs.BoolVar(&c.verbose, "v", false, "debug logging")
	fs.BoolVar(&c.check, "check", false, "check the -rc file as the daemon would apply it (remotes' proposals and PSK files included), then exit: status 0 if it is good, 1 with file:line errors if not; no device, socket or running daemon is touched")
	fs.StringVar(&c.cpuprof, "cpuprofile", "", "write a CPU profile of the daemon's life to this file")
	fs.IntVar(&c.ikeWorkers, "ike-workers", 0, fmt.Sprintf("goroutines that process IKE messages (key exchanges, SA state) off the socket readers (0: GOMAXPROCS; at most %d)", maxIKEWorkers))
	fs.IntVar(&c.ikeQueue, "ike-queue", 0, fmt.Sprintf("IKE messages (and N x 8 KiB) waiting for a worker at most; past half of it IKE_SA_INIT requests are dropped (0: %d; %d..%d)", ike.DefaultQueueLen, minIKEQueue, maxIKEQueue))
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: sabre run [-rc ike_rc] [-tun sabre0] [-sock "+defaultSocket+"] [-msgsock PATH] [-mtu 1400] [-pathmtu 1500] [-addr local address] [-fwmark mark] [-show-keys] [-ike-workers N] [-ike-queue N] [-v]\n       sabre run -check -rc ike_rc")
		fs.PrintDefaults()
		fmt.Fprint(stderr, `
-msgsock serves the reference's messaging interface to key managers in other
processes, for the policies without an IKE remote (ipsec policy without -g).
Each connection is one application: it sends APP_REGISTER, then receives
ACQUIRE, SA_EXPIRED, SA_DELETED, POLICY_ADDED and POLICY_DELETED events and
answers with GET_SPI, ADD_SA or ACQUIRE_FAIL (and the SPD requests). Messages
are an 8-octet header (type, src, dst, 0, sequence, length in 4-octet words,
status, flags) and a big-endian body; the fields of each are in
'go doc github.com/sabre-ipsec/sabre/ipsec/messaging/wire' and the README.
`)
	}
	addOperatorFlags(fs, &c.op)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("run: unexpected argument %q", fs.Arg(0))
	}
	if c.check && c.rc == "" {
		return nil, errors.New("run: -check needs -rc FILE")
	}
	if c.msgsock != "" && filepath.Clean(c.msgsock) == filepath.Clean(c.sock) {
		return nil, fmt.Errorf("run: -msgsock %s is the control socket (-sock); give it a path of its own", c.msgsock)
	}
	for _, m := range []struct {
		name string
		v    int
	}{{"-mtu", c.mtu}, {"-pathmtu", c.pathMTU}} {
		if m.v < minMTU || m.v > maxMTU {
			return nil, fmt.Errorf("run: %s %d: want %d..%d", m.name, m.v, minMTU, maxMTU)
		}
	}
	if c.ikeWorkers < 0 || c.ikeWorkers > maxIKEWorkers {
		return nil, fmt.Errorf("run: -ike-workers %d: want 0..%d", c.ikeWorkers, maxIKEWorkers)
	}
	if c.ikeQueue != 0 && (c.ikeQueue < minIKEQueue || c.ikeQueue > maxIKEQueue) {
		return nil, fmt.Errorf("run: -ike-queue %d: want 0 or %d..%d", c.ikeQueue, minIKEQueue, maxIKEQueue)
	}
	if *addr != "" {
		a, err := netip.ParseAddr(*addr)
		if err != nil {
			return nil, fmt.Errorf("run: -addr %q: %v", *addr, err)
		}
		c.addr = a
	}
	m, err := strconv.ParseUint(*mark, 0, 32)
	if err != nil {
		return nil, fmt.Errorf("run: -fwmark %q: %v", *mark, err)
	}
	c.fwmark = uint32(m)
	return c, nil
}

// runDaemon is `sabre run`.
func runDaemon(args []string, stderr io.Writer) error {
	cfg, err := parseRunFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if cfg.check {
		return checkRC(cfg, stderr)
	}
	level := slog.LevelInfo
	if cfg.verbose {
		level = slog.LevelDebug
	}
	log, err := newLogger(cfg.op.logFormat, cfg.op.logLevel, level == slog.LevelDebug, stderr)
	if err != nil {
		return err
	}
	cfg.trace = stderr
	if cfg.cpuprof != "" {
		f, err := os.Create(cfg.cpuprof)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}

	// Signals are caught from the start: a SIGHUP or SIGTERM during
	// startup waits for it instead of killing a half-made daemon.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	d, err := startDaemon(cfg, log)
	if err != nil {
		return err
	}
	if err := d.ready(); err != nil {
		d.stop()
		return err
	}
	for sig := range sigs {
		if sig == syscall.SIGHUP {
			d.reload()
			continue
		}
		log.Info("stopping", "signal", sig.String())
		break
	}
	return d.stop()
}

// daemon is a running `sabre run`.
type daemon struct {
	cfg     *daemonConfig
	log     *slog.Logger
	engine  *ipsec.Engine
	ike     *ike.Daemon
	env     *cli.Env
	dev     *tun.Device
	control *socketServer
	msgsock *socketServer // nil without -msgsock
	op      operatorState
}

// startDaemon sets up the engine, the IKE bypass policies, the ike_rc,
// the TUN device and the control socket, in that order: a bad ike_rc
// stops the daemon before it touches the network, and a client that
// reaches the socket finds the device up.
func startDaemon(cfg *daemonConfig, log *slog.Logger) (*daemon, error) {
	// A -sock or -msgsock path that cannot be used is refused before
	// anything else.
	if err := checkSocketPath(controlSocket, cfg.sock); err != nil {
		return nil, err
	}
	if cfg.msgsock != "" {
		if err := checkSocketPath(messagingSocket, cfg.msgsock); err != nil {
			return nil, err
		}
	}
	d := &daemon{cfg: cfg, log: log}
	var dev atomic.Pointer[tun.Device]
	d.engine = ipsec.New(spd.NewDB(), sad.NewDB(), ipsec.Config{
		// Dummy packets and packets queued during negotiation.
		Output: func(b *pktbuf.Buffer) {
			if t := dev.Load(); t != nil {
				t.Output(b)
				return
			}
			pktbuf.DefaultPool.Put(b)
		},
	})
	if err := addIKEBypass(d.engine.SPD()); err != nil {
		d.engine.Close()
		return nil, err
	}
	localAddr := localAddrFunc(cfg.addr, cfg.fwmark)
	// IKE and the key managers on -msgsock are applications of one
	// messaging interface.
	mgmt := messaging.New(d.engine)
	// The IKE daemon uses the device's UDP sockets on 500 and 4500; it can
	// be configured (ike_rc) before the device exists, and sends nothing
	// until it does.
	ikeD, err := ike.New(ike.Config{
		Messaging: mgmt,
		Send: func(msg []byte, local, remote netip.AddrPort) error {
			t := dev.Load()
			if t == nil {
				return errors.New("device not open yet")
			}
			return t.SendIKE(msg, local.Port(), remote)
		},
		SendKeepalive: func(_, remote netip.AddrPort) error {
			if t := dev.Load(); t != nil {
				return t.SendKeepalive(remote)
			}
			return nil
		},
		LocalAddr: localAddr,
		Log:       log,
		Trace:     cfg.trace,
		Workers:   cfg.ikeWorkers,
		QueueLen:  cfg.ikeQueue,
	})
	if err != nil {
		d.engine.Close()
		return nil, err
	}
	d.ike = ikeD
	d.env = &cli.Env{Engine: d.engine, LocalAddr: localAddr, ShowKeys: cfg.showKeys, IKE: ikeD}
	// What the ike_rc printed is logged once the daemon has started: a
	// fatal error after it leaves nothing reported as applied.
	var out strings.Builder
	if cfg.rc != "" {
		err := d.env.RunRC(cfg.rc, &out)
		if err != nil {
			ikeD.Close()
			d.engine.Close()
			return nil, fmt.Errorf("ike_rc %s: %w", cfg.rc, err)
		}
	}
	t, err := tun.Open(tun.Config{Name: cfg.tunName, MTU: cfg.mtu, PathMTU: cfg.pathMTU, Engine: d.engine, FwMark: cfg.fwmark, Logger: log.With("component", "tun"),
		IKE: ikeD.Enqueue, Forwarding: &d.op.fwd}) // the readers only queue IKE: ESP on 4500 never waits behind it
	if err != nil {
		ikeD.Close()
		d.engine.Close()
		return nil, startError(err, cfg)
	}
	d.dev = t
	dev.Store(t)
	// The messaging socket opens before the control socket, so that a
	// client that reaches the control socket finds it too.
	if cfg.msgsock != "" {
		if d.msgsock, err = listenMessaging(cfg.msgsock, mgmt, log); err != nil {
			ikeD.Close()
			t.Close()
			d.engine.Close()
			return nil, err
		}
	}
	if d.control, err = listenControl(cfg.sock, d.handle, log); err != nil {
		if d.msgsock != nil {
			d.msgsock.Close()
		}
		ikeD.Close()
		t.Close()
		d.engine.Close()
		return nil, err
	}
	if err := d.startOperator(); err != nil {
		d.stop()
		return nil, err
	}
	logOutput(log, "ike_rc", out.String())
	log.Info("sabre running", "tun", t.Name(), "mtu", t.MTU(), "socket", cfg.sock, "msgsock", cfg.msgsock, "rc", cfg.rc,
		"policies", len(d.engine.SPD().List()))
	return d, nil
}

// checkRC is `sabre run -check -rc FILE` (cli.Env.CheckRC): the file is
// checked on an engine of its own holding the daemon's bypass policies,
// including what the IKE daemon would refuse at apply time, then thrown
// away. No TUN device, socket or running daemon is touched.
func checkRC(cfg *daemonConfig, stderr io.Writer) error {
	engine := ipsec.New(spd.NewDB(), sad.NewDB(), ipsec.Config{Output: func(b *pktbuf.Buffer) { pktbuf.DefaultPool.Put(b) }})
	defer engine.Close()
	if err := addIKEBypass(engine.SPD()); err != nil {
		return err
	}
	env := &cli.Env{Engine: engine, LocalAddr: localAddrFunc(cfg.addr, cfg.fwmark)}
	return env.CheckRC(cfg.rc, stderr)
}

// addIKEBypass lets IKE through (UDP from or to local ports 500 and 4500,
// both directions, IPv4 and IPv6) at priority 2, as the reference's
// ikev2_init_and_cfg_cmn does (§4.4).
func addIKEBypass(db *spd.DB) error {
	for _, fam := range []struct {
		name string
		any  func() classify.Selector
	}{{"", classify.AnyIPv4}, {"6", classify.AnyIPv6}} {
		for _, port := range []uint16{tun.DefaultIKEPort, tun.DefaultNATTPort} {
			local, err := fam.any().WithPorts(port, port)
			if err != nil {
				return err
			}
			// Selectors are from this host's outbound view: local port
			// `port` outbound, and by the mirror image inbound too.
			p := spd.Policy{Name: fmt.Sprintf("ike-bypass%s-%d", fam.name, port), Action: spd.Bypass,
				Proto: header.ProtoUDP, Priority: ikeBypassPriority, Src: local, Dst: fam.any()}
			if _, err := db.Add(p); err != nil {
				return fmt.Errorf("IKE bypass policy: %w", err)
			}
		}
	}
	return nil
}

// localAddrFunc returns the cli's LocalAddr: the -addr address when it is
// of the remote's family, else the kernel's source address toward the
// remote (a UDP connect sends nothing), found with the daemon's fwmark so
// that policy routing answers as for the daemon's own packets.
func localAddrFunc(fixed netip.Addr, mark uint32) func(netip.Addr) (netip.Addr, error) {
	return func(remote netip.Addr) (netip.Addr, error) {
		if fixed.IsValid() && fixed.Is4() == remote.Is4() {
			return fixed, nil
		}
		dialer := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
			if mark == 0 {
				return nil
			}
			var serr error
			if err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_MARK, int(mark))
			}); err != nil {
				return err
			}
			return serr
		}}
		c, err := dialer.DialContext(context.Background(), "udp", netip.AddrPortFrom(remote, tun.DefaultIKEPort).String())
		if err != nil {
			return netip.Addr{}, fmt.Errorf("no local address toward %v: %w", remote, err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap(), nil
	}
}

// handle runs one control request.
func (d *daemon) handle(args []string, out io.Writer) int {
	switch args[0] {
	case "ipsec", "ike":
		if err := d.env.Exec(args, out); err != nil {
			fmt.Fprintln(out, err)
			return statusFailed
		}
		return statusOK
	case "tun":
		fmt.Fprintf(out, "%s mtu %d\n", d.dev.Name(), d.dev.MTU())
		d.dev.Stats().Snapshot().WriteTo(out)
		return statusOK
	}
	fmt.Fprintf(out, "unknown command %q: the daemon takes ipsec, ike and tun commands\n", args[0])
	return statusUsage
}

// reload rereads the ike_rc (SIGHUP).
func (d *daemon) reload() {
	d.beforeReload()
	defer d.afterReload()
	if d.cfg.rc == "" {
		d.log.Warn("SIGHUP: no ike_rc to reload (start with -rc)")
		return
	}
	var out strings.Builder
	err := d.env.ReloadRC(d.cfg.rc, &out)
	logOutput(d.log, "ike_rc reload", out.String())
	if err != nil {
		// The error says what is in place now (cli.Env.ReloadRC).
		d.log.Error("ike_rc reload failed", "rc", d.cfg.rc, "err", err)
		return
	}
	d.log.Info("ike_rc reloaded", "rc", d.cfg.rc, "policies", len(d.engine.SPD().List()))
}

// stop shuts the daemon down.
func (d *daemon) stop() error {
	d.stopOperator()
	// IKE first: its Delete notifications leave while the sockets are open.
	d.ike.Close()
	errs := []error{d.control.Close()}
	if d.msgsock != nil {
		errs = append(errs, d.msgsock.Close())
	}
	errs = append(errs, d.dev.Close())
	d.engine.Close()
	s := d.dev.Stats().Snapshot()
	d.log.Info("stopped", "tun_rx", s.TUNRxPackets, "tun_tx", s.TUNTxPackets, "wire_tx", s.WireTxPackets, "wire_rx", s.WireRxPackets)
	return errors.Join(errs...)
}

// logOutput logs what a cli command printed, line by line.
func logOutput(log *slog.Logger, what, out string) {
	for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if l != "" {
			log.Info(what, "out", l)
		}
	}
}
