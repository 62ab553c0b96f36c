package suite

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"
	"strconv"
	"testing"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

// benchPayload is the payload and trailer of the benchmark packets, rounded
// up to the block length: a full-size tunnel-mode packet.
const benchPayload = 1400

// BenchmarkESP seals and opens a packet of 1400 octets of payload with
// every algorithm, and with crypto/cipher's AEADs alone as the baseline
// ("raw-..."): the same key size, nonce and AAD lengths, in place. Open
// copies the sealed packet back first, in both.
//
//	go test -run '^$' -bench 'ESP' -benchmem ./suite
func BenchmarkESP(b *testing.B) {
	for _, c := range espCases() {
		e := mustESP(b, c.config())
		b.Run(fmt.Sprintf("%s-%d", e.Name(), benchPayload), func(b *testing.B) {
			benchSealOpen(b, e)
		})
	}
	for _, r := range rawAEADs() {
		b.Run(fmt.Sprintf("raw-%s-%d", r.name, benchPayload), func(b *testing.B) {
			benchRaw(b, r.aead)
		})
	}
}

func benchSealOpen(b *testing.B, e ESP) {
	b.Run("seal", espSeal(e))
	b.Run("open", espOpen(e))
}

// espSeal and espOpen return the loops that time ESP.Seal and ESP.Open.
func espSeal(e ESP) func(*testing.B) {
	esp := espPacket(e, 1, 1, nil, plaintext(e, benchPayload))
	return func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(esp) - espHeaderLen - e.IVLen() - e.ICVLen()))
		for i := range b.N {
			e.Seal(esp, uint64(i), false)
		}
	}
}

func espOpen(e ESP) func(*testing.B) {
	esp := espPacket(e, 1, 1, nil, plaintext(e, benchPayload))
	e.Seal(esp, 1, false)
	sealed := append([]byte(nil), esp...)
	return func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(esp) - espHeaderLen - e.IVLen() - e.ICVLen()))
		for range b.N {
			copy(esp, sealed)
			if err := e.Open(esp, 0, false); err != nil {
				b.Fatal(err)
			}
		}
	}
}

type rawAEAD struct {
	name string
	aead cipher.AEAD
}

func rawAEADs() []rawAEAD {
	var rs []rawAEAD
	for _, kl := range []int{16, 32} {
		blk, _ := aes.NewCipher(randBytes(kl))
		g, _ := cipher.NewGCM(blk)
		rs = append(rs, rawAEAD{fmt.Sprintf("aes%dgcm16", kl*8), g})
	}
	c, _ := chacha20poly1305.New(randBytes(32))
	return append(rs, rawAEAD{"chacha20poly1305", c})
}

func benchRaw(b *testing.B, a cipher.AEAD) {
	b.Run("seal", rawSeal(a))
	b.Run("open", rawOpen(a))
}

// rawSeal and rawOpen are the baseline: the AEAD's Seal and Open in place
// on the payload, with a nonce and AAD that live in the packet buffer.
func rawSeal(a cipher.AEAD) func(*testing.B) {
	buf := make([]byte, 16+benchPayload+16)
	nonce, aad, pt := buf[4:16], buf[:8], buf[16:16+benchPayload]
	return func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(benchPayload)
		for range b.N {
			a.Seal(pt[:0], nonce, pt, aad)
		}
	}
}

func rawOpen(a cipher.AEAD) func(*testing.B) {
	buf := make([]byte, 16+benchPayload+16)
	nonce, aad, pt := buf[4:16], buf[:8], buf[16:16+benchPayload]
	a.Seal(pt[:0], nonce, pt, aad)
	sealed := append([]byte(nil), buf...)
	return func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(benchPayload)
		for range b.N {
			copy(buf, sealed)
			if _, err := a.Open(pt[:0], nonce, buf[16:], aad); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkESPOverhead reports the time of ESP Seal and Open over that of
// the bare AEAD they wrap ("x-raw", 1.00 = no overhead). The two alternate
// in batches within one run, so that frequency changes and noisy
// neighbours affect both alike.
func BenchmarkESPOverhead(b *testing.B) {
	for _, r := range rawAEADs() {
		c := espCase{encr: EncrChaCha20Poly1305}
		switch r.name {
		case "aes128gcm16":
			c = espCase{encr: EncrAESGCM16, keyBits: 128}
		case "aes256gcm16":
			c = espCase{encr: EncrAESGCM16, keyBits: 256}
		}
		e := mustESP(b, c.config())
		b.Run(r.name+"-"+strconv.Itoa(benchPayload)+"/seal", func(b *testing.B) {
			compare(b, espSeal(e), rawSeal(r.aead))
		})
		b.Run(r.name+"-"+strconv.Itoa(benchPayload)+"/open", func(b *testing.B) {
			compare(b, espOpen(e), rawOpen(r.aead))
		})
	}
}

// compare runs the loops ours and raw in alternating batches, b.N
// iterations each, and reports ours' time per iteration and its ratio to
// raw's.
func compare(b *testing.B, ours, raw func(*testing.B)) {
	const batch = 64
	var tOurs, tRaw time.Duration
	inner := &testing.B{}
	for done := 0; done < b.N; done += batch {
		inner.N = min(batch, b.N-done)
		t0 := time.Now()
		ours(inner)
		t1 := time.Now()
		raw(inner)
		tRaw += time.Since(t1)
		tOurs += t1.Sub(t0)
	}
	b.ReportMetric(float64(tOurs.Nanoseconds())/float64(b.N), "ns/op-esp")
	b.ReportMetric(float64(tOurs)/float64(tRaw), "x-raw")
}

// BenchmarkAH computes and verifies the ICV of a packet with 1400 octets
// behind the AH header.
func BenchmarkAH(b *testing.B) {
	for _, tc := range ahIntegs {
		a, _ := mustAH(b, tc.id, tc.short)
		pkt, icvOff := ahPacket(a, 1, 1, benchPayload)
		b.Run(fmt.Sprintf("%s-%d", a.Name(), benchPayload), func(b *testing.B) {
			b.Run("sum", func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(pkt)))
				for i := range b.N {
					a.Sum(pkt, icvOff, uint64(i), false)
				}
			})
			a.Sum(pkt, icvOff, 1, false)
			b.Run("verify", func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(pkt)))
				for range b.N {
					if err := a.Verify(pkt, icvOff, 0, false); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
