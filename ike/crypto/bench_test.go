package ikecrypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"strconv"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"
)

// BenchmarkDH measures one side of a key exchange in each group:
// generating a key and computing the shared secret with a peer's value.
// The MODP subgroup check, which SharedSecret leaves out, is measured
// separately for comparison.
func BenchmarkDH(b *testing.B) {
	for _, id := range allGroups {
		g := mustGroup(b, id)
		peer, _ := g.GenerateKey()
		b.Run(id.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				k, err := g.GenerateKey()
				if err != nil {
					b.Fatal(err)
				}
				if _, err := k.SharedSecret(peer.PublicValue()); err != nil {
					b.Fatal(err)
				}
			}
		})
		if g.modp != nil {
			b.Run(id.String()+"/CheckSubgroup", func(b *testing.B) {
				for b.Loop() {
					if err := g.CheckSubgroup(peer.PublicValue()); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkSKSealOpen seals and opens an Encrypted payload carrying 1 KiB
// of inner payloads, about an IKE_AUTH message with a certificate chain
// left out, and as the baseline ("raw-...") crypto/cipher's AEADs sealing
// and opening the same lengths with the same AAD directly.
//
//	go test -run '^$' -bench SKSealOpen ./ike/crypto
func BenchmarkSKSealOpen(b *testing.B) {
	pt := make([]byte, 1024)
	rand.Read(pt)
	for _, c := range []skCase{
		{0x0c, 128, 0x0c}, // aes128 + hmac-sha256-128
		{0x0c, 256, 0x0e}, // aes256 + hmac-sha512-256
		{0x0c, 128, 0x05}, // aes128 + aes-xcbc-96
		{0x14, 128, 0},    // aes128gcm16
		{0x14, 256, 0},    // aes256gcm16
		{0x12, 256, 0},    // aes256gcm8
		{0x1c, 256, 0},    // chacha20poly1305
	} {
		sk := newSK(b, c)
		aad := fakeHeader()
		buf := make([]byte, 0, len(aad)+sk.SealedLen(len(pt)))
		out := make([]byte, 0, len(pt)+64)
		b.Run(sk.Name(), func(b *testing.B) {
			b.SetBytes(int64(len(pt)))
			b.ReportAllocs()
			for b.Loop() {
				msg := sk.Seal(append(buf[:0], aad...), aad, pt)
				if _, err := sk.Open(out[:0], aad, msg[len(aad):]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	for _, bits := range []int{128, 256} {
		blk, _ := aes.NewCipher(make([]byte, bits/8))
		gcm, _ := cipher.NewGCM(blk)
		benchRaw(b, "aes"+strconv.Itoa(bits)+"gcm16", gcm)
	}
	cc, _ := chacha20poly1305.New(make([]byte, 32))
	benchRaw(b, "chacha20poly1305", cc)
}

// benchRaw times Seal and Open of a cipher.AEAD over the lengths an SK
// payload with 1 KiB of inner payloads has.
func benchRaw(b *testing.B, name string, a cipher.AEAD) {
	pt := make([]byte, 1024+1)
	aad := fakeHeader()
	nonce := make([]byte, a.NonceSize())
	buf := make([]byte, 0, len(pt)+a.Overhead())
	out := make([]byte, 0, len(pt))
	b.Run("raw-"+name, func(b *testing.B) {
		b.SetBytes(int64(len(pt) - 1))
		b.ReportAllocs()
		for b.Loop() {
			ct := a.Seal(buf[:0], nonce, pt, aad)
			if _, err := a.Open(out[:0], nonce, ct, aad); err != nil {
				b.Fatal(err)
			}
		}
	})
}
