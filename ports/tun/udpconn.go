//go:build linux

package tun

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// UDP offload limits: the kernel's UDP_MAX_SEGMENTS for a GSO send and
// UDP_GRO_CNT_MAX for a GRO receive.
const (
	udpMaxSegments = 64
	udpMaxPayload  = 65000 // a GSO send's total, under the 64 KiB datagram limit with headers
)

// udpConn is a UDP socket of one family on the IKE or the NAT-T port with
// batched I/O (recvmmsg, sendmmsg) and, where the kernel has them, UDP GSO
// for sending and GRO for receiving, as wireguard-go's conn does. Unlike
// wireguard-go's StdNetBind it keeps the destination address (IP_PKTINFO)
// of every datagram split from a GRO batch: the engine finds inbound SAs
// by SPI and destination, so the rebuilt IP header needs it.
type udpConn struct {
	v6   bool
	port uint16
	c    *net.UDPConn
	pc4  *ipv4.PacketConn
	pc6  *ipv6.PacketConn
	gso  atomic.Bool
	gro  bool
}

// listenUDP opens the UDP socket of one family on port.
func listenUDP(v6 bool, port uint16, mark uint32) (*udpConn, error) {
	u := &udpConn{v6: v6, port: port}
	network := "udp4"
	if v6 {
		network = "udp6"
	}
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var err error
		cerr := c.Control(func(fd uintptr) {
			s := int(fd)
			if v6 {
				err = unix.SetsockoptInt(s, unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1)
			} else {
				err = unix.SetsockoptInt(s, unix.IPPROTO_IP, unix.IP_PKTINFO, 1)
			}
			if err != nil {
				err = fmt.Errorf("PKTINFO: %w", err)
				return
			}
			if mark != 0 {
				if err = unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_MARK, int(mark)); err != nil {
					err = fmt.Errorf("SO_MARK %#x: %w", mark, err)
					return
				}
			}
			setBufferSizes(s)
			_, gsoErr := unix.GetsockoptInt(s, unix.IPPROTO_UDP, unix.UDP_SEGMENT)
			u.gso.Store(gsoErr == nil)
			u.gro = unix.SetsockoptInt(s, unix.IPPROTO_UDP, unix.UDP_GRO, 1) == nil
		})
		if cerr != nil {
			return cerr
		}
		return err
	}}
	pc, err := lc.ListenPacket(context.Background(), network, fmt.Sprintf(":%d", port))
	if err != nil {
		return nil, fmt.Errorf("tun: listen %s port %d: %w", network, port, err)
	}
	u.c = pc.(*net.UDPConn)
	if v6 {
		u.pc6 = ipv6.NewPacketConn(u.c)
	} else {
		u.pc4 = ipv4.NewPacketConn(u.c)
	}
	return u, nil
}

func (u *udpConn) String() string {
	if u.v6 {
		return fmt.Sprintf("udp6:%d", u.port)
	}
	return fmt.Sprintf("udp4:%d", u.port)
}

// Close closes the socket.
func (u *udpConn) Close() error { return u.c.Close() }

func (u *udpConn) readBatch(msgs []ipv4.Message) (int, error) {
	if u.v6 {
		return u.pc6.ReadBatch(msgs, 0)
	}
	return u.pc4.ReadBatch(msgs, 0)
}

func (u *udpConn) writeBatch(msgs []ipv4.Message) (int, error) {
	if u.v6 {
		return u.pc6.WriteBatch(msgs, 0)
	}
	return u.pc4.WriteBatch(msgs, 0)
}

// udpControlSize fits the IP_PKTINFO/IPV6_PKTINFO and UDP_GRO messages.
var udpControlSize = unix.CmsgSpace(unix.SizeofInet6Pktinfo) + unix.CmsgSpace(4)

// datagram is one received datagram: its payload is
// storage[readOffset:readOffset+n] of the slot it was read or split into.
type datagram struct {
	n        int
	src      netip.AddrPort
	dst      netip.Addr // from PKTINFO; invalid if the kernel gave none
	overflow bool
}

// udpReader reads batches from one udpConn into slots.
type udpReader struct {
	u    *udpConn
	s    *slots
	msgs []ipv4.Message
	got  []datagram
}

func newUDPReader(u *udpConn, n int) *udpReader {
	r := &udpReader{u: u, s: newSlots(n), msgs: make([]ipv4.Message, n), got: make([]datagram, n)}
	for i := range r.msgs {
		r.msgs[i].Buffers = make([][]byte, 1)
		r.msgs[i].OOB = make([]byte, udpControlSize)
	}
	return r
}

// read reads one batch and returns the datagrams, GRO batches split: the
// i-th is in slot i. With GRO the batch is read into the last slots and
// split towards the first, as wireguard-go does: a GRO message holds at
// most udpMaxSegments datagrams, so reading two messages fills 128 slots
// at most.
func (r *udpReader) read() ([]datagram, error) {
	readAt := 0
	if r.u.gro {
		readAt = max(len(r.msgs)-len(r.msgs)/udpMaxSegments, 0)
	}
	for i := readAt; i < len(r.msgs); i++ {
		r.msgs[i].Buffers[0] = r.s.storage[i][readOffset:]
		r.msgs[i].OOB = r.msgs[i].OOB[:cap(r.msgs[i].OOB)]
	}
	n, err := r.u.readBatch(r.msgs[readAt:])
	if err != nil {
		return nil, err
	}
	k := 0
	for i := readAt; i < readAt+n; i++ {
		m := &r.msgs[i]
		var src netip.AddrPort
		if a, ok := m.Addr.(*net.UDPAddr); ok {
			src = a.AddrPort()
			src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
		}
		dst, seg := parseUDPControl(m.OOB[:m.NN])
		if seg <= 0 || seg >= m.N {
			seg = max(m.N, 1)
		}
		if m.N == 0 {
			// An empty datagram is a datagram too: it goes on to be
			// counted where it is dropped.
			r.got[k] = datagram{src: src, dst: dst}
			k++
		}
		for start := 0; start < m.N; start += seg {
			end := min(start+seg, m.N)
			if k > i {
				// More segments than slots: cannot happen with the
				// kernel's GRO limit; count the rest as lost.
				r.got[k-1].overflow = true
				break
			}
			if k != i || start != 0 {
				copy(r.s.storage[k][readOffset:], r.s.storage[i][readOffset+start:readOffset+end])
			}
			r.got[k] = datagram{n: end - start, src: src, dst: dst}
			k++
		}
		m.Addr = nil
	}
	return r.got[:k], nil
}

// parseUDPControl returns the destination address and the GRO segment
// size from a received control message.
func parseUDPControl(oob []byte) (dst netip.Addr, seg int) {
	for len(oob) >= unix.SizeofCmsghdr {
		h, data, rest, err := unix.ParseOneSocketControlMessage(oob)
		if err != nil {
			return dst, seg
		}
		switch {
		case h.Level == unix.IPPROTO_IP && h.Type == unix.IP_PKTINFO && len(data) >= unix.SizeofInet4Pktinfo:
			// struct in_pktinfo: ifindex, spec_dst, addr (the header's destination)
			dst = netip.AddrFrom4([4]byte(data[8:12]))
		case h.Level == unix.IPPROTO_IPV6 && h.Type == unix.IPV6_PKTINFO && len(data) >= unix.SizeofInet6Pktinfo:
			dst = netip.AddrFrom16([16]byte(data[0:16]))
		case h.Level == unix.SOL_UDP && h.Type == unix.UDP_GRO && len(data) >= 2:
			if len(data) >= 4 {
				seg = int(binary.NativeEndian.Uint32(data))
			} else {
				seg = int(binary.NativeEndian.Uint16(data))
			}
		}
		oob = rest
	}
	return dst, seg
}

// udpWriter sends runs of datagrams to one peer, as few GSO sends as the
// sizes allow: datagrams of one size (the last may be shorter) go in one
// sendmmsg message whose iovecs are the datagrams themselves, so nothing
// is copied to coalesce them.
type udpWriter struct {
	msgs []ipv4.Message
	oob  [][]byte
	addr map[netip.AddrPort]*net.UDPAddr
}

func newUDPWriter(n int) *udpWriter {
	w := &udpWriter{msgs: make([]ipv4.Message, n), oob: make([][]byte, n), addr: map[netip.AddrPort]*net.UDPAddr{}}
	for i := range w.oob {
		w.oob[i] = make([]byte, unix.CmsgSpace(2))
	}
	return w
}

// send sends dgrams to peer on u and returns how many the kernel refused.
func (w *udpWriter) send(u *udpConn, dgrams [][]byte, peer netip.AddrPort) (failed int, err error) {
	a := w.addr[peer]
	if a == nil {
		if len(w.addr) > 64 {
			clear(w.addr)
		}
		a = net.UDPAddrFromAddrPort(peer)
		w.addr[peer] = a
	}
	gso := u.gso.Load()
	nm := 0
	for i := 0; i < len(dgrams); {
		j := i + 1
		if gso {
			seg, total := len(dgrams[i]), len(dgrams[i])
			for j < len(dgrams) && j-i < udpMaxSegments && total+len(dgrams[j]) <= udpMaxPayload && len(dgrams[j]) <= seg {
				total += len(dgrams[j])
				j++
				if len(dgrams[j-1]) < seg {
					break // a shorter datagram ends the GSO batch
				}
			}
		}
		if nm == len(w.msgs) {
			w.msgs = append(w.msgs, ipv4.Message{})
			w.oob = append(w.oob, make([]byte, unix.CmsgSpace(2)))
		}
		m := &w.msgs[nm]
		m.Buffers, m.Addr, m.OOB = dgrams[i:j], a, nil
		if j-i > 1 {
			m.OOB = putSegmentSize(w.oob[nm], len(dgrams[i]))
		}
		nm++
		i = j
	}
	msgs := w.msgs[:nm]
	for start := 0; start < len(msgs); {
		n, werr := u.writeBatch(msgs[start:])
		start += max(n, 0)
		if werr != nil {
			if gso && isEIO(werr) {
				// The route's device cannot checksum UDP GSO sends
				// (udp(7)): send them one by one from now on.
				u.gso.Store(false)
				sent := 0
				for _, m := range msgs[:start] {
					sent += len(m.Buffers)
				}
				for i := range msgs {
					msgs[i].Buffers, msgs[i].Addr, msgs[i].OOB = nil, nil, nil
				}
				f, err := w.send(u, dgrams[sent:], peer)
				return failed + f, err
			}
			err = werr
			failed += len(msgs[start].Buffers)
			start++
		}
	}
	for i := range msgs {
		msgs[i].Buffers, msgs[i].Addr, msgs[i].OOB = nil, nil, nil
	}
	return failed, err
}

// putSegmentSize writes a UDP_SEGMENT control message into b.
func putSegmentSize(b []byte, size int) []byte {
	b = b[:unix.CmsgSpace(2)]
	clear(b)
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level, h.Type = unix.SOL_UDP, unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	binary.NativeEndian.PutUint16(b[unix.CmsgLen(0):], uint16(size))
	return b
}

func isEIO(err error) bool {
	var serr *os.SyscallError
	return errors.As(err, &serr) && serr.Err == unix.EIO
}
