//go:build linux

package tun

import (
	"context"
	"fmt"
	"net"
	"syscall"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"

	"github.com/sabre-ipsec/sabre/header"
)

// socketBufferSize is the receive and send buffer of every socket, as
// wireguard-go's conn sets it: room for bursts at high rates.
const socketBufferSize = 7 << 20

// rawConn is a raw IP socket for ESP or AH. Writes carry the whole IP
// packet (IP_HDRINCL, IPV6_HDRINCL); IPv4 reads return the whole packet,
// IPv6 reads the payload, with the destination in an IPV6_PKTINFO control
// message.
type rawConn struct {
	v6    bool
	proto uint8
	c     *net.IPConn
	pc4   *ipv4.PacketConn
	pc6   *ipv6.PacketConn
}

// listenRaw opens the raw socket of ESP (or AH when ah) for IPv4 or IPv6.
func listenRaw(v6, ah bool, mark uint32) (*rawConn, error) {
	r := &rawConn{v6: v6, proto: header.ProtoESP}
	if ah {
		r.proto = header.ProtoAH
	}
	network, laddr := fmt.Sprintf("ip4:%d", r.proto), "0.0.0.0"
	if v6 {
		network, laddr = fmt.Sprintf("ip6:%d", r.proto), "::"
	}
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var err error
		cerr := c.Control(func(fd uintptr) {
			s := int(fd)
			if v6 {
				err = unix.SetsockoptInt(s, unix.IPPROTO_IPV6, unix.IPV6_HDRINCL, 1)
			} else {
				err = unix.SetsockoptInt(s, unix.IPPROTO_IP, unix.IP_HDRINCL, 1)
			}
			if err != nil {
				err = fmt.Errorf("HDRINCL: %w", err)
				return
			}
			if mark != 0 {
				if err = unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_MARK, int(mark)); err != nil {
					err = fmt.Errorf("SO_MARK %#x: %w", mark, err)
					return
				}
			}
			setBufferSizes(s)
		})
		if cerr != nil {
			return cerr
		}
		return err
	}}
	pc, err := lc.ListenPacket(context.Background(), network, laddr)
	if err != nil {
		return nil, fmt.Errorf("tun: raw socket %s: %w", network, err)
	}
	r.c = pc.(*net.IPConn)
	if v6 {
		r.pc6 = ipv6.NewPacketConn(r.c)
		if err := r.pc6.SetControlMessage(ipv6.FlagDst|ipv6.FlagHopLimit|ipv6.FlagTrafficClass, true); err != nil {
			r.c.Close()
			return nil, fmt.Errorf("tun: raw socket %s: IPV6_RECVPKTINFO: %w", network, err)
		}
	} else {
		r.pc4 = ipv4.NewPacketConn(r.c)
	}
	return r, nil
}

// setBufferSizes raises the socket buffers, beyond the sysctl limits when
// the process may (SO_*BUFFORCE needs CAP_NET_ADMIN); failures only cost
// performance.
func setBufferSizes(fd int) {
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, socketBufferSize)
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, socketBufferSize)
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, socketBufferSize)
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, socketBufferSize)
}

func (r *rawConn) String() string {
	if r.v6 {
		return fmt.Sprintf("ip6:%d", r.proto)
	}
	return fmt.Sprintf("ip4:%d", r.proto)
}

// ReadBatch reads up to len(msgs) packets with one recvmmsg.
func (r *rawConn) ReadBatch(msgs []ipv4.Message) (int, error) {
	if r.v6 {
		return r.pc6.ReadBatch(msgs, 0)
	}
	return r.pc4.ReadBatch(msgs, 0)
}

// WriteBatch sends msgs with sendmmsg, each a whole IP packet.
func (r *rawConn) WriteBatch(msgs []ipv4.Message) (int, error) {
	if r.v6 {
		return r.pc6.WriteBatch(msgs, 0)
	}
	return r.pc4.WriteBatch(msgs, 0)
}

// Close closes the socket.
func (r *rawConn) Close() error { return r.c.Close() }
