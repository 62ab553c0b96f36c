package reassembly

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sabre-ipsec/sabre/header"
	"github.com/sabre-ipsec/sabre/pktbuf"
	"github.com/sabre-ipsec/sabre/xe"
)

var updateSeeds = flag.Bool("update-seeds", false, "rewrite testdata/fuzz/FuzzProcess from fuzzSeeds")

// A FuzzProcess input is a sequence of records: one byte of seconds to
// advance the clock, a 2-byte big-endian length, and that many bytes of
// packet (fewer if the input ends first).
func encodeRecords(recs ...record) []byte {
	var b []byte
	for _, r := range recs {
		b = append(b, r.advance)
		b = binary.BigEndian.AppendUint16(b, uint16(len(r.pkt)))
		b = append(b, r.pkt...)
	}
	return b
}

type record struct {
	advance uint8
	pkt     []byte
}

func pkts(p ...[]byte) []record {
	var rs []record
	for _, x := range p {
		rs = append(rs, record{pkt: x})
	}
	return rs
}

// fuzzSeeds are the seed corpus: valid fragment sequences and a few
// misbehaving ones.
func fuzzSeeds() map[string][]byte {
	rng := rand.New(rand.NewPCG(51, 52))
	v4 := fragmentIPv4(ipv4Packet(rng, 1, nil, 300), 104, false)
	v4opt := fragmentIPv4(ipv4Packet(rng, 2, []byte{0x94, 4, 0, 0}, 200), 96, true)
	p6, u6, nh6 := ipv6Packet(rng, []uint8{header.ProtoHopByHop}, 300)
	v6 := fragmentIPv6(p6, u6, nh6, 104, 7)
	p6b, u6b, nh6b := ipv6Packet(rng, []uint8{header.ProtoHopByHop, header.ProtoDstOpts, header.ProtoRouting}, 100)
	return map[string][]byte{
		"ipv4-in-order":   encodeRecords(pkts(v4...)...),
		"ipv4-reverse":    encodeRecords(pkts(v4[2], v4[1], v4[0])...),
		"ipv4-options":    encodeRecords(pkts(v4opt[1], v4opt[0], v4opt[2])...),
		"ipv4-duplicate":  encodeRecords(pkts(v4[0], v4[0], v4[2], v4[1])...),
		"ipv4-overlap":    encodeRecords(pkts(v4[0], ipv4Fragment(ipv4Packet(rng, 1, nil, 300), 56, 104, true))...),
		"ipv4-timeout":    encodeRecords(record{0, v4[0]}, record{31, v4[1]}, record{0, v4[2]}),
		"ipv6-hop-by-hop": encodeRecords(pkts(v6[1], v6[0], v6[2])...),
		"ipv6-atomic":     encodeRecords(pkts(atomicFragment(p6b, u6b, nh6b, 9))...),
		"mixed":           encodeRecords(pkts(v6[0], v4[1], v6[2], v4[0], v6[1], v4[2])...),
	}
}

// TestFuzzSeeds keeps the checked-in seed corpus in step with fuzzSeeds;
// run with -update-seeds to rewrite it.
func TestFuzzSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzProcess")
	for name, data := range fuzzSeeds() {
		path := filepath.Join(dir, name)
		want := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
		if *updateSeeds {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -run TestFuzzSeeds -update-seeds)", err)
		}
		if string(got) != want {
			t.Errorf("%s is stale (run go test -run TestFuzzSeeds -update-seeds)", path)
		}
	}
}

// TestFuzzSeedsReassemble checks that the valid seeds do reach the end of
// reassembly, so that the fuzzer starts from deep inside it.
func TestFuzzSeedsReassemble(t *testing.T) {
	want := map[string]Stats{
		"ipv4-in-order":   {DatagramsReassembled: 1},
		"ipv4-reverse":    {DatagramsReassembled: 1},
		"ipv4-options":    {DatagramsReassembled: 1},
		"ipv4-duplicate":  {DatagramsReassembled: 1, Duplicates: 1},
		"ipv4-overlap":    {Overlaps: 1},
		"ipv4-timeout":    {Timeouts: 1},
		"ipv6-hop-by-hop": {DatagramsReassembled: 1},
		"ipv6-atomic":     {AtomicFragments: 1},
		"mixed":           {DatagramsReassembled: 2},
	}
	for name, in := range fuzzSeeds() {
		clock := newFakeClock()
		r := New(Config{Now: clock.Now})
		for len(in) >= 3 {
			clock.Advance(time.Duration(in[0]) * time.Second)
			n := int(binary.BigEndian.Uint16(in[1:]))
			r.Process(in[3 : 3+n])
			in = in[3+n:]
		}
		s := r.Stats()
		w := want[name]
		if s.DatagramsReassembled != w.DatagramsReassembled || s.Duplicates != w.Duplicates || s.Overlaps != w.Overlaps ||
			s.Timeouts != w.Timeouts || s.AtomicFragments != w.AtomicFragments || s.Malformed != 0 {
			t.Errorf("seed %s: stats %+v", name, s)
		}
	}
}

func FuzzProcess(f *testing.F) {
	const maxBytes, maxDatagrams = 8192, 8
	pool := pktbuf.NewPool(pktbuf.DefaultHeadroom, 2048, 64)
	f.Fuzz(func(t *testing.T, in []byte) {
		clock := newFakeClock()
		r := New(Config{MaxBytes: maxBytes, MaxDatagrams: maxDatagrams, Now: clock.Now, Pool: pool})
		for len(in) >= 3 {
			clock.Advance(time.Duration(in[0]) * time.Second)
			n := min(int(binary.BigEndian.Uint16(in[1:])), len(in)-3)
			pkt := in[3 : 3+n]
			in = in[3+n:]

			fragment := IsFragment(pkt)
			b, err := r.Process(pkt)
			if err != nil {
				if b != nil {
					t.Fatal("buffer and error")
				}
				if !errors.Is(err, xe.MalformedPacket) && !errors.Is(err, xe.FragmentError) {
					t.Fatalf("error of code %v: %v", xe.CodeOf(err).Name(), err)
				}
			}
			if b != nil && fragment {
				checkDatagram(t, b.Bytes())
			}
			if b != nil {
				pool.Put(b)
			}
			if s := r.Stats(); s.BytesHeld > maxBytes || s.Datagrams > maxDatagrams || s.BytesHeld < 0 {
				t.Fatalf("holding %d datagrams in %d bytes", s.Datagrams, s.BytesHeld)
			}
		}
		r.Sweep()
	})
}

// checkDatagram checks the length fields of a datagram Process built.
func checkDatagram(t *testing.T, p []byte) {
	t.Helper()
	switch p[0] >> 4 {
	case 4:
		h := header.IPv4(p)
		if h.TotalLength() != len(p) || h.MoreFragments() || h.FragmentOffset() != 0 || header.Checksum(p[:h.HeaderLength()], 0) != 0xffff {
			t.Fatalf("reassembled IPv4 header %x of a %d-byte datagram", p[:h.HeaderLength()], len(p))
		}
	case 6:
		if header.IPv6(p).PayloadLength() != len(p)-header.IPv6Len {
			t.Fatalf("reassembled IPv6 payload length %d of a %d-byte datagram", header.IPv6(p).PayloadLength(), len(p))
		}
	default:
		t.Fatalf("reassembled datagram of version %d", p[0]>>4)
	}
}
