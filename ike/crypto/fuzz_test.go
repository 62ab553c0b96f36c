package ikecrypto

import (
	"errors"
	"sync"
	"testing"

	"github.com/sabre-ipsec/sabre/ike/message"
	"github.com/sabre-ipsec/sabre/suite"
)

// FuzzSKOpen feeds arbitrary AAD and bodies to Open for a CBC and two AEAD
// transform sets: it must never panic, and anything but a body Seal made
// under the same AAD must fail with ErrIntegrity or ErrMalformed.
func FuzzSKOpen(f *testing.F) {
	cases := []skCase{
		{suite.EncrAESCBC, 128, suite.IntegHMACSHA256128},
		{suite.EncrAESGCM8, 128, suite.IntegNone},
		{suite.EncrChaCha20Poly1305, 256, suite.IntegNone},
	}
	sks := make([]SKCipher, len(cases))
	aad := fakeHeader()
	for i, c := range cases {
		sks[i] = newSK(f, c)
		for _, n := range []int{0, 1, 15, 16, 40} {
			f.Add(uint8(i), aad, sks[i].Seal(nil, aad, make([]byte, n)))
		}
	}
	f.Add(uint8(0), []byte{}, []byte{})
	f.Fuzz(func(t *testing.T, which uint8, a, body []byte) {
		sk := sks[int(which)%len(sks)]
		pt, err := sk.Open(nil, a, body)
		if err != nil {
			if !errors.Is(err, ErrIntegrity) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		// Only seeds, which Seal made, can open; they round-trip.
		if len(body) != sk.SealedLen(len(pt)) && sk.BlockLen() == 1 {
			t.Fatalf("opened a %d-octet body to %d octets", len(body), len(pt))
		}
	})
}

// FuzzSharedSecret feeds arbitrary peer values to each kind of group: they
// are refused with ErrInvalidKE or give a secret of the group's length.
func FuzzSharedSecret(f *testing.F) {
	ids := []message.GroupID{message.MODP2048, message.ECP256, message.ECP521, message.Curve25519}
	keys := make([]*PrivateKey, len(ids))
	for i, id := range ids {
		g := mustGroup(f, id)
		keys[i], _ = g.GenerateKey()
		peer, _ := g.GenerateKey()
		f.Add(uint8(i), peer.PublicValue())
		f.Add(uint8(i), make([]byte, g.PublicValueLen()))
	}
	f.Fuzz(func(t *testing.T, which uint8, peer []byte) {
		k := keys[int(which)%len(keys)]
		z, err := k.SharedSecret(peer)
		if err != nil {
			if !errors.Is(err, ErrInvalidKE) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if len(z) != k.Group().SharedSecretLen() {
			t.Fatalf("%d-octet secret", len(z))
		}
	})
}

// TestSKConcurrent seals and opens from several goroutines with one
// SKCipher; run with -race.
func TestSKConcurrent(t *testing.T) {
	for _, c := range []skCase{
		{suite.EncrAESCBC, 256, suite.IntegAESCMAC96},
		{suite.EncrAESGCM8, 256, suite.IntegNone},
		{suite.EncrAESGCM16, 128, suite.IntegNone},
	} {
		sk := newSK(t, c)
		aad := fakeHeader()
		var wg sync.WaitGroup
		ivs := make(chan string, 8*50)
		for range 8 {
			wg.Go(func() {
				for range 50 {
					body := sk.Seal(nil, aad, []byte("concurrent"))
					ivs <- string(body[:sk.IVLen()])
					if _, err := sk.Open(nil, aad, body); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		close(ivs)
		seen := map[string]bool{}
		for iv := range ivs {
			if seen[iv] {
				t.Fatalf("%v: IV %x used twice", c, iv)
			}
			seen[iv] = true
		}
	}
}
