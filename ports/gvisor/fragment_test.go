package gvisor

import (
	"bytes"
	"net/netip"
	"testing"

	hdr "github.com/sabre-ipsec/sabre/header"
	"github.com/sabre-ipsec/sabre/pktbuf"
	"github.com/sabre-ipsec/sabre/reassembly"
)

// TestFragmentRoundTrip fragments IPv4 and IPv6 packets to several MTUs and
// reassembles the fragments with Sabre's reassembler: every fragment fits,
// every non-last fragment carries a multiple of 8 bytes, and the datagram
// comes back as it was.
func TestFragmentRoundTrip(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		for _, mtu := range []int{1280, 1300, 1500} {
			for _, size := range []int{1501, 3000, 4097} {
				src, dst := addrA4, addrB4
				if v6 {
					src, dst = addrA6, addrB6
				}
				orig := udpPacket(src, dst, size)
				p := orig.Bytes()
				for i := 28; i < len(p); i++ {
					p[i] = byte(i)
				}
				r := reassembly.New(reassembly.Config{})
				var whole *pktbuf.Buffer
				n := 0
				emit := func(h, data []byte) {
					frag := append(append([]byte(nil), h...), data...)
					if len(frag) > mtu {
						t.Errorf("v6=%v mtu %d size %d: fragment of %d bytes", v6, mtu, size, len(frag))
					}
					n++
					w, err := r.Process(frag)
					if err != nil {
						t.Fatalf("v6=%v mtu %d size %d: reassembly: %v", v6, mtu, size, err)
					}
					if w != nil {
						whole = w
					}
				}
				var err error
				if v6 {
					err = fragmentIPv6(p, mtu, 0x1234, emit)
				} else {
					err = fragmentIPv4(p, mtu, false, emit)
				}
				if err != nil {
					t.Fatal(err)
				}
				if whole == nil || !bytes.Equal(whole.Bytes(), p) {
					t.Errorf("v6=%v mtu %d size %d: %d fragments did not reassemble to the datagram", v6, mtu, size, n)
				}
				pktbuf.DefaultPool.Put(orig)
			}
		}
	}
}

// TestFragmentIPv4Options: options whose copied flag is set are repeated
// in every fragment, the others only in the first (RFC 791 §3.1).
func TestFragmentIPv4Options(t *testing.T) {
	const hl = 32
	p := make([]byte, hl+2000)
	hdr.IPv4(p).Encode(&hdr.IPv4Fields{TotalLength: len(p), TTL: 64, Protocol: hdr.ProtoUDP, Src: addrA4, Dst: addrB4})
	p[0] = 0x40 | hl/4
	// Record Route (7, not copied) of 7 bytes, a NOP, then a copied option
	// (0x94, Router Alert) of 4 bytes.
	copy(p[20:], []byte{7, 7, 4, 0, 0, 0, 0, 1, 0x94, 4, 0, 0})
	hdr.IPv4(p).UpdateChecksum()
	var headers [][]byte
	err := fragmentIPv4(p, 1000, false, func(h, data []byte) {
		headers = append(headers, append([]byte(nil), h...))
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(headers) != 3 {
		t.Fatalf("%d fragments, want 3", len(headers))
	}
	if !bytes.Equal(headers[0][20:], p[20:hl]) {
		t.Errorf("first fragment's options % x, want % x", headers[0][20:], p[20:hl])
	}
	for _, h := range headers[1:] {
		if hdr.IPv4(h).HeaderLength() != 24 || !bytes.Equal(h[20:24], []byte{0x94, 4, 0, 0}) {
			t.Errorf("later fragment's options % x, want only the copied option", h[20:])
		}
		if c := hdr.Checksum(h, 0); c != 0xffff && c != 0 {
			t.Errorf("later fragment's header checksum is wrong")
		}
	}
	hdr.IPv4(p).SetFlagsFragmentOffset(hdr.IPv4FlagDF)
	if err := fragmentIPv4(p, 1000, false, func(h, data []byte) {}); err != errDF {
		t.Errorf("DF packet: %v, want errDF", err)
	}
	if err := fragmentIPv4(p, 1000, true, func(h, data []byte) {
		if hdr.IPv4(h).DF() {
			t.Errorf("a fragment carries DF")
		}
	}); err != nil {
		t.Errorf("DF packet fragmented by its sender: %v", err)
	}
}

// FuzzFragment feeds arbitrary packets and MTUs to the fragmenters: they
// must not panic, and what they emit must fit the MTU and carry the whole
// payload.
func FuzzFragment(f *testing.F) {
	for _, src := range [][2]string{{"10.0.0.77", "10.0.0.78"}, {"fd00::77", "fd00::78"}} {
		b := udpPacket(mustAddr(src[0]), mustAddr(src[1]), 400)
		f.Add(append([]byte(nil), b.Bytes()...), uint16(150))
		pktbuf.DefaultPool.Put(b)
	}
	f.Fuzz(func(t *testing.T, p []byte, mtu uint16) {
		if len(p) == 0 {
			return
		}
		total, data := 0, 0
		emit := func(h, d []byte) {
			if len(h)+len(d) > int(mtu) {
				t.Fatalf("fragment of %d bytes for MTU %d", len(h)+len(d), mtu)
			}
			data += len(d)
		}
		var err error
		var head int
		switch p[0] >> 4 {
		case 4:
			var ok bool
			if head, total, ok = hdr.ValidIPv4(p); !ok {
				return
			}
			err = fragmentIPv4(p, int(mtu), true, emit)
		case 6:
			var ok bool
			if total, ok = hdr.ValidIPv6(p); !ok {
				return
			}
			c, ok := hdr.ParseIPv6Chain(p[:total])
			if !ok {
				return
			}
			head = c.InsertOffset
			err = fragmentIPv6(p, int(mtu), 1, emit)
		default:
			return
		}
		if err == nil && data != total-head {
			t.Fatalf("fragments carry %d bytes of a %d-byte payload", data, total-head)
		}
	})
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
