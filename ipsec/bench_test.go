package ipsec

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/sabre-ipsec/sabre/classify"
	"github.com/sabre-ipsec/sabre/header"
	"github.com/sabre-ipsec/sabre/spd"
)

// BenchmarkRawAEAD is the baseline for BenchmarkESPRoundTrip: the bare
// cipher.AEAD sealing and opening the same 1400 bytes.
func BenchmarkRawAEAD(b *testing.B) {
	for _, tc := range []struct {
		name string
		aead func() cipher.AEAD
	}{
		{"aes128gcm-1400", func() cipher.AEAD {
			blk, _ := aes.NewCipher(key(16, 1))
			a, _ := cipher.NewGCM(blk)
			return a
		}},
		{"chacha20poly1305-1400", func() cipher.AEAD {
			a, _ := chacha20poly1305.New(key(32, 1))
			return a
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			a := tc.aead()
			nonce := make([]byte, a.NonceSize())
			aad := make([]byte, 8)
			buf := make([]byte, 1400, 1400+a.Overhead())
			b.SetBytes(1400)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				binary.BigEndian.PutUint64(nonce[4:], uint64(i))
				ct := a.Seal(buf[:0], nonce, buf[:1400], aad)
				if _, err := a.Open(ct[:0], nonce, ct, aad); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkESPRoundTrip encapsulates a 1400-byte inner packet at one engine
// and decapsulates it at the other: classification, SAD lookups, sequence
// numbers, the replay window, lifetimes, ESP and the inbound policy check.
// The buffer is reused: decapsulation leaves it as encapsulation found it.
func BenchmarkESPRoundTrip(b *testing.B) {
	for _, tc := range []struct {
		name string
		a    algo
	}{
		{"aes128gcm-tunnel4-1400", espAlgos[0]},
		{"chacha20poly1305-tunnel4-1400", espAlgos[3]},
		{"aes256cbc-sha256-tunnel4-1400", espAlgos[6]},
	} {
		b.Run(tc.name, func(b *testing.B) {
			c := geometries[0].config(tc.a)
			c.esn = true
			ha, hb := newPair(b, c)
			p := testPacket{src: "10.1.0.5", dst: "10.2.0.9", sport: 1000, dport: 2000}
			p.payloadLen = 1400 - 28
			buf := p.build(b)
			b.SetBytes(1400)
			b.ReportAllocs()
			for b.Loop() {
				if res, err := ha.e.Encapsulate(buf); res != SecureTunnel {
					b.Fatal(res, err)
				}
				if res, err := hb.e.Decapsulate(buf); res != SecureTunnel {
					b.Fatal(res, err)
				}
			}
		})
	}
}

// BenchmarkLookup measures GetPolicy, header parsing included, on random
// traffic against random policy sets: /16../32 prefixes, single hosts,
// ranges, port-specific rules and a catch-all bypass.
func BenchmarkLookup(b *testing.B) {
	for _, n := range []int{10, 1000, 100000} {
		b.Run(fmt.Sprintf("policies-%d", n), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(uint64(n), 7))
			e := New(randomSPD(b, rng, n), nil, Config{})
			pkts := randomTraffic(rng, 4096)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				e.GetPolicy(pkts[i&4095], spd.Outbound)
				i++
			}
		})
	}
}

// randomAddr draws from 10.0.0.0/12 so that policies and traffic overlap.
func randomAddr(rng *rand.Rand) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(rng.IntN(16)), byte(rng.IntN(256)), byte(rng.IntN(256))})
}

func randomSelector(rng *rand.Rand) classify.Selector {
	a := randomAddr(rng)
	var s classify.Selector
	switch rng.IntN(4) {
	case 0:
		s, _ = classify.SelectorFromAddr(a)
	case 1:
		s, _ = classify.SelectorFromPrefix(netip.PrefixFrom(a, 16+rng.IntN(17)).Masked())
	case 2:
		to := a.As4()
		to[3] = byte(min(int(to[3])+rng.IntN(64), 255))
		s, _ = classify.SelectorFromRange(a, netip.AddrFrom4(to))
	default:
		s, _ = classify.SelectorFromPrefix(netip.PrefixFrom(a, 24).Masked())
	}
	if rng.IntN(4) == 0 {
		p := uint16(rng.IntN(2000))
		s, _ = s.WithPorts(p, p+uint16(rng.IntN(10)))
	}
	return s
}

func randomSPD(tb testing.TB, rng *rand.Rand, n int) *spd.DB {
	db := spd.NewDB()
	ps := make([]spd.Policy, 0, n)
	for range n - 1 {
		p := spd.Policy{Action: spd.Action(1 + rng.IntN(2)), Priority: uint8(1 + rng.IntN(6)),
			Src: randomSelector(rng), Dst: randomSelector(rng)}
		if rng.IntN(2) == 0 {
			p.Proto = []uint8{6, 17, 1}[rng.IntN(3)]
		}
		ps = append(ps, p)
	}
	ps = append(ps, spd.Policy{Action: spd.Bypass, Priority: 7, Src: classify.AnyIPv4(), Dst: classify.AnyIPv4()})
	// Random draws can repeat a selector pair; keep the first.
	for len(ps) > 0 {
		if _, err := db.AddBatch(ps); err == nil {
			return db
		}
		ps = dedupe(ps)
	}
	tb.Fatal("no policies")
	return nil
}

func dedupe(ps []spd.Policy) []spd.Policy {
	type k struct {
		prio, proto uint8
		src, dst    classify.Selector
	}
	seen := map[k]bool{}
	out := ps[:0]
	for _, p := range ps {
		key := k{p.Priority, p.Proto, p.Src, p.Dst}
		if !seen[key] {
			seen[key] = true
			out = append(out, p)
		}
	}
	return out
}

func randomTraffic(rng *rand.Rand, n int) [][]byte {
	pkts := make([][]byte, n)
	for i := range pkts {
		p := make([]byte, 28)
		h := header.IPv4(p)
		h.Encode(&header.IPv4Fields{TotalLength: 28, TTL: 64, Protocol: []uint8{6, 17, 1}[rng.IntN(3)], Src: randomAddr(rng), Dst: randomAddr(rng)})
		binary.BigEndian.PutUint16(p[20:], uint16(rng.IntN(2100)))
		binary.BigEndian.PutUint16(p[22:], uint16(rng.IntN(2100)))
		pkts[i] = p
	}
	return pkts
}
