package suite

import (
	"bytes"
	"testing"
)

// TestAESGCMWycheproof runs Project Wycheproof's AES-GCM vectors with
// 96-bit IVs through the pieces AES-GCM-8 is built from: the keystream
// (ctrEngine from counter 2) and the tag (gcmShort), which must reproduce
// the ciphertext and full tag of every valid vector and reject the modified
// tags.
func TestAESGCMWycheproof(t *testing.T) {
	w := readWycheproof(t, "aes_gcm_test.json")
	n := 0
	for _, g := range w.TestGroups {
		for _, tc := range g.Tests {
			gs, err := newGCMShort(tc.Key)
			if err != nil {
				t.Fatalf("tcId %d: %v", tc.TcID, err)
			}
			var s ctrScratch
			copy(s.prefix[:], tc.IV)
			buf := append(append([]byte(nil), tc.Msg...), make([]byte, 5)...) // little room behind
			gs.ctr.xor(&s, 2, buf, len(tc.Msg))
			ctOK := bytes.Equal(buf[:len(tc.Msg)], tc.CT)
			x := append(make([]byte, (len(tc.AAD)+15)/16*16), tc.CT...)
			copy(x, tc.AAD)
			var tag [16]byte
			gs.tag(&tag, tc.IV, x, len(tc.AAD))
			if ok := ctOK && bytes.Equal(tag[:], tc.Tag); ok != (tc.Result == "valid") {
				t.Errorf("tcId %d (%s): ciphertext ok %v, tag %x vs %x, result %s", tc.TcID, tc.Comment, ctOK, tag, tc.Tag, tc.Result)
			}
			n++
		}
	}
	if n < 150 {
		t.Fatalf("only %d tests", n)
	}
}

// TestGCMShortTag checks gcmShort.tag against crypto/cipher's full tag for
// AAD and ciphertext lengths around the block boundaries.
func TestGCMShortTag(t *testing.T) {
	key := randBytes(16)
	gs, _ := newGCMShort(key)
	for aLen := 0; aLen <= 40; aLen += 3 {
		for cLen := 0; cLen <= 70; cLen++ {
			nonce, aad, pt := randBytes(12), randBytes(aLen), randBytes(cLen)
			sealed := gs.ctr.gcm.Seal(nil, nonce, pt, aad)
			x := append(make([]byte, (aLen+15)/16*16), sealed[:cLen]...)
			copy(x, aad)
			var tag [16]byte
			gs.tag(&tag, nonce, x, aLen)
			if !bytes.Equal(tag[:], sealed[cLen:]) {
				t.Fatalf("aad %d ciphertext %d: tag %x, want %x", aLen, cLen, tag, sealed[cLen:])
			}
		}
	}
}
