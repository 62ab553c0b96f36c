package reassembly

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"math/rand/v2"

	"github.com/sabre-ipsec/sabre/header"
	"github.com/sabre-ipsec/sabre/pktbuf"
	"github.com/sabre-ipsec/sabre/xe"
)

// fakeClock is a settable clock for Config.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// feed processes frags and returns the datagram completed by the last of
// them; it fails if an earlier one completes or anything fails.
func feed(t *testing.T, r *Reassembler, frags [][]byte) *pktbuf.Buffer {
	t.Helper()
	for i, f := range frags {
		b, err := r.Process(f)
		if err != nil {
			t.Fatalf("fragment %d of %d: %v", i, len(frags), err)
		}
		if (b != nil) != (i == len(frags)-1) {
			t.Fatalf("fragment %d of %d: complete = %v", i, len(frags), b != nil)
		}
		if b != nil {
			return b
		}
	}
	return nil
}

// wantErr checks that err has code and mentions substr.
func wantErr(t *testing.T, err error, code xe.Code, substr string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %v mentioning %q", code.Name(), substr)
	}
	if !errors.Is(err, code) || !strings.Contains(err.Error(), substr) {
		t.Fatalf("error %q, want %v mentioning %q", err, code.Name(), substr)
	}
}

func TestIPv4Orders(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	routerAlert := []byte{0x94, 4, 0, 0} // copied flag set
	cases := []struct {
		name        string
		opts        []byte
		n, size     int
		dropOptions bool
	}{
		{"two fragments", nil, 2000, 1480, false},
		{"odd last fragment", nil, 4001, 504, false},
		{"8-byte fragments", nil, 1000, 8, false},
		{"options in every fragment", routerAlert, 3000, 1000, false},
		{"options in first only", routerAlert, 3000, 1000, true},
		{"largest datagram", nil, 65535 - 20, 1480, false},
	}
	for _, tc := range cases {
		pkt := ipv4Packet(rng, uint16(rng.Uint32()), tc.opts, tc.n)
		for name, frags := range orders(rng, fragmentIPv4(pkt, tc.size, tc.dropOptions)) {
			t.Run(tc.name+"/"+name, func(t *testing.T) {
				r := New(Config{})
				b := feed(t, r, frags)
				if !bytes.Equal(b.Bytes(), pkt) {
					t.Fatalf("reassembled %d bytes differ from the original %d", b.Len(), len(pkt))
				}
				if b.Headroom() != pktbuf.DefaultHeadroom {
					t.Errorf("headroom %d, want %d", b.Headroom(), pktbuf.DefaultHeadroom)
				}
				if IsFragment(b.Bytes()) {
					t.Error("reassembled datagram is still a fragment")
				}
				s := r.Stats()
				if s.FragmentsReceived != uint64(len(frags)) || s.DatagramsReassembled != 1 || s.Datagrams != 0 || s.BytesHeld != 0 {
					t.Errorf("stats %+v", s)
				}
			})
		}
	}
}

func TestIPv6Orders(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	cases := []struct {
		name    string
		ext     []uint8
		n, size int
	}{
		{"no extension headers", nil, 3000, 1232},
		{"hop-by-hop", []uint8{header.ProtoHopByHop}, 3001, 1232},
		{"destination options", []uint8{header.ProtoDstOpts}, 2000, 512},
		{"hop-by-hop, dest opts, routing", []uint8{header.ProtoHopByHop, header.ProtoDstOpts, header.ProtoRouting}, 5000, 1024},
		{"8-byte fragments", []uint8{header.ProtoHopByHop}, 800, 8},
		{"largest datagram", nil, 65535, 1232},
	}
	for _, tc := range cases {
		pkt, unfrag, nh := ipv6Packet(rng, tc.ext, tc.n)
		for name, frags := range orders(rng, fragmentIPv6(pkt, unfrag, nh, tc.size, rng.Uint32())) {
			t.Run(tc.name+"/"+name, func(t *testing.T) {
				r := New(Config{})
				for _, f := range frags {
					if !IsFragment(f) {
						t.Fatal("IsFragment = false for a fragment")
					}
				}
				b := feed(t, r, frags)
				if !bytes.Equal(b.Bytes(), pkt) {
					t.Fatalf("reassembled %d bytes differ from the original %d", b.Len(), len(pkt))
				}
				if IsFragment(b.Bytes()) {
					t.Error("reassembled datagram is still a fragment")
				}
				if s := r.Stats(); s.DatagramsReassembled != 1 || s.Datagrams != 0 || s.BytesHeld != 0 {
					t.Errorf("stats %+v", s)
				}
			})
		}
	}
}

// TestInterleaved reassembles several datagrams whose fragments arrive
// mixed, including an IPv4 and an IPv6 datagram with the same
// identification and datagrams differing only in protocol.
func TestInterleaved(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var want [][]byte
	var all [][]byte
	for i := range 6 {
		var pkt []byte
		var frags [][]byte
		switch i % 3 {
		case 0:
			pkt = ipv4Packet(rng, 7, nil, 3000)
			frags = fragmentIPv4(pkt, 1000, false)
		case 1:
			pkt = ipv4Packet(rng, 7, nil, 2500)
			pkt[9] = 51 // AH: another datagram by the key
			header.IPv4(pkt).UpdateChecksum()
			frags = fragmentIPv4(pkt, 800, false)
		case 2:
			var unfrag, nh int
			pkt, unfrag, nh = ipv6Packet(rng, nil, 2000)
			frags = fragmentIPv6(pkt, unfrag, nh, 600, uint32(7+i))
		}
		if i >= 3 { // a second set with other identifications
			switch i % 3 {
			case 0, 1:
				pkt[4] = 8
				header.IPv4(pkt).UpdateChecksum()
				frags = fragmentIPv4(pkt, 1000, false)
			}
		}
		want = append(want, pkt)
		all = append(all, frags...)
	}
	rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	r := New(Config{})
	var got [][]byte
	for _, f := range all {
		b, err := r.Process(f)
		if err != nil {
			t.Fatal(err)
		}
		if b != nil {
			got = append(got, bytes.Clone(b.Bytes()))
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d datagrams reassembled, want %d", len(got), len(want))
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || bytes.Equal(g, w)
		}
		if !found {
			t.Errorf("datagram of %d bytes not reassembled", len(w))
		}
	}
}

func TestDuplicateIgnored(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	pkt := ipv4Packet(rng, 1, nil, 3000)
	frags := fragmentIPv4(pkt, 1000, false)
	r := New(Config{})
	for _, f := range [][]byte{frags[0], frags[0], frags[2], frags[2]} {
		if b, err := r.Process(f); b != nil || err != nil {
			t.Fatalf("Process = %v, %v", b, err)
		}
	}
	b, err := r.Process(frags[1])
	if err != nil || !bytes.Equal(b.Bytes(), pkt) {
		t.Fatalf("after duplicates: %v", err)
	}
	if s := r.Stats(); s.Duplicates != 2 || s.Overlaps != 0 || s.DatagramsReassembled != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestOverlapDropsDatagram(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	pkt4 := ipv4Packet(rng, 1, nil, 3000)
	frags4 := fragmentIPv4(pkt4, 1000, false)
	shifted4 := ipv4Fragment(pkt4, 504, 1000, true)
	changed4 := bytes.Clone(frags4[1])
	changed4[100] ^= 1

	pkt6, unfrag, nh := ipv6Packet(rng, []uint8{header.ProtoHopByHop}, 3000)
	frags6 := fragmentIPv6(pkt6, unfrag, nh, 1000, 99)
	shifted6 := fragmentIPv6(pkt6, unfrag, nh, 504, 99)[1] // [504, 1008)

	cases := []struct {
		name        string
		first, then []byte
		rest        [][]byte
		msg         string
	}{
		{"IPv4 partial overlap", frags4[0], shifted4, frags4[1:], "overlaps held fragment [0, 1000)"},
		{"IPv4 partial overlap, reverse", shifted4, frags4[0], frags4[1:], "fragment [0, 1000) overlaps held fragment [504, 1504)"},
		{"IPv4 same range, other bytes", frags4[1], changed4, [][]byte{frags4[0], frags4[2]}, "different contents"},
		{"IPv6 partial overlap", frags6[0], shifted6, frags6[1:], "overlaps held fragment [0, 1000)"},
		{"IPv6 next fragment overlapped", frags6[1], shifted6, [][]byte{frags6[0], frags6[2]}, "overlaps held fragment [1000, 2000)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := New(Config{})
			if _, err := r.Process(tc.first); err != nil {
				t.Fatal(err)
			}
			_, err := r.Process(tc.then)
			wantErr(t, err, xe.FragmentError, tc.msg)
			if s := r.Stats(); s.Overlaps != 1 || s.Datagrams != 0 || s.BytesHeld != 0 {
				t.Fatalf("stats %+v", s)
			}
			// The datagram is gone: the remaining fragments alone cannot
			// complete it.
			for _, f := range tc.rest {
				if b, err := r.Process(f); b != nil || err != nil {
					t.Fatalf("after overlap: Process = %v, %v", b, err)
				}
			}
		})
	}
}

func TestConflicts(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	pkt := ipv4Packet(rng, 1, nil, 3000)
	cases := []struct {
		name  string
		order [][]byte
		msg   string
	}{
		{"second last fragment",
			[][]byte{ipv4Fragment(pkt, 2000, 1000, false), ipv4Fragment(pkt, 1000, 500, false)},
			"second last fragment ends at 1500, the first ended at 3000"},
		{"last before held data",
			[][]byte{ipv4Fragment(pkt, 2000, 1000, true), ipv4Fragment(pkt, 1000, 1000, false)},
			"last fragment ends at 2000 but held data reaches 3000"},
		{"data past the last",
			[][]byte{ipv4Fragment(pkt, 1000, 1000, false), ipv4Fragment(pkt, 2000, 1000, true)},
			"fragment [2000, 3000) runs past the last fragment's end 2000"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := New(Config{})
			if _, err := r.Process(tc.order[0]); err != nil {
				t.Fatal(err)
			}
			_, err := r.Process(tc.order[1])
			wantErr(t, err, xe.FragmentError, tc.msg)
			if s := r.Stats(); s.Malformed != 1 || s.Datagrams != 0 || s.BytesHeld != 0 {
				t.Fatalf("stats %+v", s)
			}
		})
	}
}

// ipv4Fragment returns the fragment of the IPv4 packet pkt (20-byte
// header) that carries n bytes of its data from offset off, with MF set to
// more.
func ipv4Fragment(pkt []byte, off, n int, more bool) []byte {
	f := make([]byte, 20+n)
	copy(f, pkt[:20])
	copy(f[20:], pkt[20+off:])
	header.IPv4(f).SetTotalLength(len(f))
	setMF(f, more)
	setOffset4(f, off)
	return f
}

func setMF(f []byte, mf bool) {
	h := header.IPv4(f)
	v := h.FlagsFragmentOffset() &^ header.IPv4FlagMF
	if mf {
		v |= header.IPv4FlagMF
	}
	f[6], f[7] = byte(v>>8), byte(v)
	h.UpdateChecksum()
}

func setOffset4(f []byte, off int) {
	h := header.IPv4(f)
	v := h.FlagsFragmentOffset()&^header.IPv4FragmentOffsetMask | uint16(off/8)
	f[6], f[7] = byte(v>>8), byte(v)
	h.UpdateChecksum()
}

func TestBadFragments(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	pkt4 := ipv4Packet(rng, 1, nil, 3000)
	frags4 := fragmentIPv4(pkt4, 1000, false)
	pkt6, unfrag, nh := ipv6Packet(rng, []uint8{header.ProtoDstOpts}, 3000)
	frags6 := fragmentIPv6(pkt6, unfrag, nh, 1000, 5)

	mutate := func(f []byte, m func([]byte) []byte) []byte { return m(bytes.Clone(f)) }
	cases := []struct {
		name string
		pkt  []byte
		code xe.Code
		msg  string
	}{
		{"empty", nil, xe.MalformedPacket, "IP version 0"},
		{"version 5", mutate(frags4[0], func(b []byte) []byte { b[0] = 0x55; return b }), xe.MalformedPacket, "IP version 5"},
		{"IPv4 truncated header", frags4[0][:19], xe.MalformedPacket, "IPv4 header truncated: 19 bytes"},
		{"IPv4 IHL 16", mutate(frags4[0], func(b []byte) []byte { b[0] = 0x44; return b }), xe.MalformedPacket, "header length 16 < 20"},
		{"IPv4 IHL past end", frags4[0][:20], xe.MalformedPacket, "total length 1020 > 20 bytes received"},
		{"IPv4 options past end", mutate(frags4[0][:24], func(b []byte) []byte { b[0] = 0x47; return b }), xe.MalformedPacket, "header length 28 > 24 bytes"},
		{"IPv4 total length < IHL", mutate(frags4[0], func(b []byte) []byte { b[2], b[3] = 0, 19; header.IPv4(b).UpdateChecksum(); return b }), xe.MalformedPacket, "total length 19 < header length 20"},
		{"IPv4 truncated data", frags4[1][:500], xe.MalformedPacket, "total length 1020 > 500 bytes received"},
		{"IPv4 bad checksum", mutate(frags4[0], func(b []byte) []byte { b[10] ^= 0xff; return b }), xe.MalformedPacket, "checksum"},
		{"IPv4 zero-length", mutate(frags4[1][:20], func(b []byte) []byte { b[2], b[3] = 0, 20; header.IPv4(b).UpdateChecksum(); return b }), xe.FragmentError, "zero-length fragment at offset 1000"},
		{"IPv4 not a multiple of 8", mutate(frags4[0][:20+999], func(b []byte) []byte { b[2], b[3] = 0x03, 0xfb; header.IPv4(b).UpdateChecksum(); return b }), xe.FragmentError, "length 999 is not a multiple of 8"},
		{"IPv4 too large", mutate(frags4[1][:20+16], func(b []byte) []byte {
			b[2], b[3] = 0, 36
			setOffset4(b, 65528)
			return b
		}), xe.FragmentError, "total length of 65564 > 65535"},
		{"IPv6 truncated header", frags6[0][:39], xe.MalformedPacket, "IPv6 header truncated: 39 bytes"},
		{"IPv6 payload length past end", frags6[0][:1000], xe.MalformedPacket, "payload length 1016 > 960 bytes received"},
		{"IPv6 extension header past end", mutate(frags6[0], func(b []byte) []byte { b[41] = 200; return b }), xe.MalformedPacket, "extension header 60 at offset 40: length 1608"},
		{"IPv6 fragment header truncated", mutate(frags6[0][:52], func(b []byte) []byte { b[4], b[5] = 0, 12; return b }), xe.MalformedPacket, "Fragment header at offset 48 truncated"},
		{"IPv6 jumbogram", mutate(frags6[0], func(b []byte) []byte { b[4], b[5] = 0, 0; return b }), xe.MalformedPacket, "jumbogram"},
		{"IPv6 zero-length", mutate(frags6[1][:56], func(b []byte) []byte { b[4], b[5] = 0, 16; return b }), xe.FragmentError, "zero-length fragment at offset 1000"},
		{"IPv6 not a multiple of 8", mutate(frags6[0][:56+999], func(b []byte) []byte { b[4], b[5] = 0x03, 0xf7; return b }), xe.FragmentError, "length 999 is not a multiple of 8"},
		{"IPv6 too large", mutate(frags6[1][:56+16], func(b []byte) []byte {
			b[4], b[5] = 0, 32
			b[48+2], b[48+3] = 0xff, 0xf9 // offset 65528, M=1
			return b
		}), xe.FragmentError, "payload length of 65552 > 65535"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := New(Config{})
			b, err := r.Process(tc.pkt)
			if b != nil {
				t.Fatal("returned a buffer")
			}
			wantErr(t, err, tc.code, tc.msg)
			if s := r.Stats(); s.Malformed != 1 || s.Datagrams != 0 || s.BytesHeld != 0 {
				t.Fatalf("stats %+v", s)
			}
		})
	}
}

// TestFirstHeaderTooLarge covers a first fragment whose options make the
// datagram too large although every fragment fits on its own.
func TestFirstHeaderTooLarge(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	opts := make([]byte, 40) // 40 bytes of NOP... then End
	for i := range opts {
		opts[i] = 1
	}
	pkt := ipv4Packet(rng, 1, opts, 65535-60)
	frags := fragmentIPv4(pkt, 1480, true)
	last := frags[len(frags)-1]
	// Stretch the last fragment by 16 bytes: with a 20-byte header it
	// still fits, with the first fragment's 60 it does not.
	long := append(bytes.Clone(last), make([]byte, 16)...)
	header.IPv4(long).SetTotalLength(len(long))
	header.IPv4(long).UpdateChecksum()
	r := New(Config{})
	if _, err := r.Process(long); err != nil {
		t.Fatal(err)
	}
	_, err := r.Process(frags[0])
	wantErr(t, err, xe.FragmentError, "first fragment's header makes a total length of 65551 > 65535")
}

// TestTruncatedNeverPanics feeds every prefix of every fragment.
func TestTruncatedNeverPanics(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	pkt6, unfrag, nh := ipv6Packet(rng, []uint8{header.ProtoHopByHop, header.ProtoRouting}, 300)
	var frags [][]byte
	frags = append(frags, fragmentIPv4(ipv4Packet(rng, 1, []byte{1, 1, 1, 0}, 300), 104, false)...)
	frags = append(frags, fragmentIPv6(pkt6, unfrag, nh, 104, 3)...)
	r := New(Config{MaxBytes: 4096})
	for _, f := range frags {
		for n := range len(f) {
			IsFragment(f[:n])
			if b, err := r.Process(f[:n]); b != nil && err == nil {
				t.Fatalf("%d of %d bytes of a fragment returned a datagram", n, len(f))
			}
			if s := r.Stats(); s.BytesHeld > 4096 {
				t.Fatalf("holding %d bytes", s.BytesHeld)
			}
		}
	}
}

func TestTimeout(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 20))
	pkt4 := ipv4Packet(rng, 1, nil, 2000)
	frags4 := fragmentIPv4(pkt4, 1000, false)
	pkt6, unfrag, nh := ipv6Packet(rng, nil, 2000)
	frags6 := fragmentIPv6(pkt6, unfrag, nh, 1000, 1)
	clock := newFakeClock()
	r := New(Config{Now: clock.Now})

	// Sweep drops IPv4 after 30s and IPv6 only after 60s.
	mustIncomplete(t, r, frags4[0])
	mustIncomplete(t, r, frags6[0])
	clock.Advance(DefaultTimeoutIPv4 - time.Second)
	if n := r.Sweep(); n != 0 {
		t.Fatalf("Sweep before the timeout dropped %d", n)
	}
	clock.Advance(time.Second)
	if n := r.Sweep(); n != 1 {
		t.Fatalf("Sweep at the IPv4 timeout dropped %d, want 1", n)
	}
	if s := r.Stats(); s.Timeouts != 1 || s.Datagrams != 1 {
		t.Fatalf("stats %+v", s)
	}
	clock.Advance(DefaultTimeoutIPv6 - DefaultTimeoutIPv4)
	if n := r.Sweep(); n != 1 {
		t.Fatalf("Sweep at the IPv6 timeout dropped %d, want 1", n)
	}
	if s := r.Stats(); s.Timeouts != 2 || s.Datagrams != 0 || s.BytesHeld != 0 {
		t.Fatalf("stats %+v", s)
	}

	// Without Sweep, the next fragment finds its datagram expired: it
	// starts a new one instead of completing the old.
	mustIncomplete(t, r, frags4[0])
	clock.Advance(DefaultTimeoutIPv4)
	mustIncomplete(t, r, frags4[1])
	if s := r.Stats(); s.Timeouts != 3 || s.Datagrams != 1 {
		t.Fatalf("stats %+v", s)
	}
	// Within the timeout it completes.
	clock.Advance(DefaultTimeoutIPv4 - time.Second)
	b, err := r.Process(frags4[0])
	if err != nil || b == nil || !bytes.Equal(b.Bytes(), pkt4) {
		t.Fatalf("Process = %v, %v", b, err)
	}
}

func TestConfiguredTimeout(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	pkt6, unfrag, nh := ipv6Packet(rng, nil, 2000)
	frags6 := fragmentIPv6(pkt6, unfrag, nh, 1000, 1)
	clock := newFakeClock()
	r := New(Config{Now: clock.Now, TimeoutIPv6: 5 * time.Second})
	mustIncomplete(t, r, frags6[0])
	clock.Advance(5 * time.Second)
	if n := r.Sweep(); n != 1 {
		t.Fatalf("Sweep dropped %d, want 1", n)
	}
}

func mustIncomplete(t *testing.T, r *Reassembler, f []byte) {
	t.Helper()
	if b, err := r.Process(f); b != nil || err != nil {
		t.Fatalf("Process = %v, %v; want incomplete", b, err)
	}
}

func TestMemoryBound(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	const maxBytes = 64 << 10
	clock := newFakeClock()
	r := New(Config{MaxBytes: maxBytes, Now: clock.Now})
	var firsts [][]byte
	for i := range 500 {
		var f []byte
		if i%2 == 0 {
			f = fragmentIPv4(ipv4Packet(rng, uint16(i), nil, 3000), 1000, false)[1]
		} else {
			pkt, unfrag, nh := ipv6Packet(rng, nil, 3000)
			f = fragmentIPv6(pkt, unfrag, nh, 1000, uint32(i))[0]
		}
		firsts = append(firsts, f)
		mustIncomplete(t, r, f)
		clock.Advance(time.Millisecond)
		if s := r.Stats(); s.BytesHeld > maxBytes {
			t.Fatalf("after %d datagrams holding %d bytes > %d", i+1, s.BytesHeld, maxBytes)
		}
	}
	s := r.Stats()
	if s.Evictions == 0 || s.Datagrams == 0 || s.Evictions+uint64(s.Datagrams) != 500 {
		t.Fatalf("stats %+v", s)
	}
	// The oldest went first: the first datagram is gone, so its fragment
	// starts it anew, while the newest is still held.
	if r.Stats().Datagrams >= 2 {
		newest := firsts[len(firsts)-1]
		if _, err := r.Process(newest); err != nil {
			t.Fatal(err)
		}
		if d := r.Stats().Duplicates; d != 1 {
			t.Fatalf("newest datagram was evicted (duplicates %d)", d)
		}
	}
	// A fresh datagram still completes within the bound.
	pkt := ipv4Packet(rng, 9999, nil, 30000)
	b := feed(t, r, fragmentIPv4(pkt, 1480, false))
	if !bytes.Equal(b.Bytes(), pkt) {
		t.Fatal("datagram reassembled under memory pressure differs")
	}
	if s := r.Stats(); s.BytesHeld > maxBytes {
		t.Fatalf("holding %d bytes", s.BytesHeld)
	}
}

func TestDatagramTooLargeForMemory(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 26))
	pkt := ipv4Packet(rng, 1, nil, 8000)
	frags := fragmentIPv4(pkt, 1000, false)
	r := New(Config{MaxBytes: 4000})
	for i, f := range frags[:3] {
		mustIncomplete(t, r, f)
		if s := r.Stats(); s.BytesHeld > 4000 {
			t.Fatalf("after %d: holding %d", i, s.BytesHeld)
		}
	}
	_, err := r.Process(frags[3])
	wantErr(t, err, xe.FragmentError, "over the limit of 4000; datagram dropped")
	if s := r.Stats(); s.Evictions != 1 || s.Datagrams != 0 || s.BytesHeld != 0 {
		t.Fatalf("stats %+v", s)
	}
	_, err = New(Config{MaxBytes: 100}).Process(frags[0])
	wantErr(t, err, xe.FragmentError, "over the limit of 100")
}

func TestMaxDatagrams(t *testing.T) {
	rng := rand.New(rand.NewPCG(27, 28))
	clock := newFakeClock()
	r := New(Config{MaxDatagrams: 3, Now: clock.Now})
	var pkts [][]byte
	for i := range 5 {
		pkt := ipv4Packet(rng, uint16(i), nil, 2000)
		pkts = append(pkts, pkt)
		mustIncomplete(t, r, fragmentIPv4(pkt, 1000, false)[0])
		clock.Advance(time.Second)
	}
	if s := r.Stats(); s.Datagrams != 3 || s.Evictions != 2 {
		t.Fatalf("stats %+v", s)
	}
	// Datagrams 2, 3 and 4 remain. Newest first, so that the fragments of
	// 0 and 1, which start new datagrams, evict none of them.
	for i := len(pkts) - 1; i >= 0; i-- {
		b, err := r.Process(fragmentIPv4(pkts[i], 1000, false)[1])
		if err != nil {
			t.Fatal(err)
		}
		if (b != nil) != (i >= 2) {
			t.Errorf("datagram %d complete = %v", i, b != nil)
		}
	}
}

func TestAtomicFragment(t *testing.T) {
	rng := rand.New(rand.NewPCG(29, 30))
	for _, ext := range [][]uint8{nil, {header.ProtoHopByHop}, {header.ProtoHopByHop, header.ProtoDstOpts}} {
		pkt, unfrag, nh := ipv6Packet(rng, ext, 1000)
		af := atomicFragment(pkt, unfrag, nh, 42)
		if !IsFragment(af) {
			t.Fatal("IsFragment = false for an atomic fragment")
		}
		r := New(Config{})
		// A held fragment with the same identification is not touched
		// (RFC 6946 §4).
		other, ou, onh := ipv6Packet(rng, ext, 2000)
		ofrags := fragmentIPv6(other, ou, onh, 1000, 42)
		mustIncomplete(t, r, ofrags[0])
		b, err := r.Process(af)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b.Bytes(), pkt) {
			t.Fatalf("%v: atomic fragment came back as %x, want %x", ext, b.Bytes()[:unfrag+8], pkt[:unfrag+8])
		}
		if b, err := r.Process(ofrags[1]); err != nil || !bytes.Equal(b.Bytes(), other) {
			t.Fatalf("datagram with the same identification: %v", err)
		}
		if s := r.Stats(); s.AtomicFragments != 1 || s.DatagramsReassembled != 1 {
			t.Fatalf("stats %+v", s)
		}
	}
}

func TestNotAFragment(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	pkt4 := ipv4Packet(rng, 1, nil, 100)
	pkt6, _, _ := ipv6Packet(rng, []uint8{header.ProtoHopByHop}, 100)
	r := New(Config{})
	for _, pkt := range [][]byte{pkt4, pkt6} {
		if IsFragment(pkt) {
			t.Fatal("IsFragment = true")
		}
		b, err := r.Process(pkt)
		if err != nil || !bytes.Equal(b.Bytes(), pkt) {
			t.Fatalf("Process = %v, %v", b, err)
		}
	}
	if s := r.Stats(); s != (Stats{}) {
		t.Fatalf("stats %+v", s)
	}
}

func TestIsFragment(t *testing.T) {
	rng := rand.New(rand.NewPCG(33, 34))
	pkt4 := ipv4Packet(rng, 1, nil, 2000)
	frags4 := fragmentIPv4(pkt4, 1000, false)
	pkt6, unfrag, nh := ipv6Packet(rng, []uint8{header.ProtoHopByHop, header.ProtoRouting}, 2000)
	frags6 := fragmentIPv6(pkt6, unfrag, nh, 1000, 1)
	cases := []struct {
		name string
		pkt  []byte
		want bool
	}{
		{"IPv4 first", frags4[0], true},
		{"IPv4 last", frags4[1], true},
		{"IPv4 whole", pkt4, false},
		{"IPv6 first", frags6[0], true},
		{"IPv6 last", frags6[1], true},
		{"IPv6 whole", pkt6, false},
		{"IPv6 atomic", atomicFragment(pkt6, unfrag, nh, 1), true},
		{"IPv6 extension header cut", frags6[0][:44], false},
		{"empty", nil, false},
		{"IPv4 short", frags4[0][:19], false},
		{"IPv6 short", frags6[0][:39], false},
		{"version 5", []byte{0x50, 0, 0, 0}, false},
	}
	for _, tc := range cases {
		if got := IsFragment(tc.pkt); got != tc.want {
			t.Errorf("%s: IsFragment = %v", tc.name, got)
		}
	}
	if a := testing.AllocsPerRun(100, func() { IsFragment(frags6[0]); IsFragment(frags4[1]) }); a != 0 {
		t.Errorf("IsFragment allocates %v times", a)
	}
}

func TestConcurrent(t *testing.T) {
	r := New(Config{MaxBytes: 256 << 10})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 35))
			for i := range 50 {
				var pkt []byte
				var frags [][]byte
				if i%2 == 0 {
					pkt = ipv4Packet(rng, uint16(g<<8|i), nil, 5000)
					frags = fragmentIPv4(pkt, 1000, false)
				} else {
					var unfrag, nh int
					pkt, unfrag, nh = ipv6Packet(rng, nil, 5000)
					frags = fragmentIPv6(pkt, unfrag, nh, 1000, uint32(g<<8|i))
				}
				rng.Shuffle(len(frags), func(i, j int) { frags[i], frags[j] = frags[j], frags[i] })
				for j, f := range frags {
					b, err := r.Process(f)
					if err != nil {
						t.Error(err)
						return
					}
					if j == len(frags)-1 && (b == nil || !bytes.Equal(b.Bytes(), pkt)) {
						t.Errorf("goroutine %d datagram %d not reassembled", g, i)
					}
					r.Stats()
				}
				r.Sweep()
			}
		})
	}
	wg.Wait()
	if s := r.Stats(); s.DatagramsReassembled != 400 || s.Datagrams != 0 || s.BytesHeld != 0 {
		t.Fatalf("stats %+v", s)
	}
}
