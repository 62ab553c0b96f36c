package ikecrypto

import (
	"bytes"
	"errors"
	"testing"

	"github.com/sabre-ipsec/sabre/ike/message"
	"github.com/sabre-ipsec/sabre/internal/testutil/vectors"
	"github.com/sabre-ipsec/sabre/xe"
)

// TestPRFKnownAnswers runs RFC 4434, RFC 4615, RFC 2202 and RFC 4868
// vectors through every PRF (see testdata/prf.txt).
func TestPRFKnownAnswers(t *testing.T) {
	seen := map[message.PRFID]bool{}
	for _, v := range vectors.Read(t, "testdata/prf.txt") {
		id := message.PRFID(v.Int(t, "prf"))
		p := mustPRF(t, id)
		seen[id] = true
		key, msg, want := v.Bytes(t, "key"), v.Bytes(t, "msg"), v.Bytes(t, "out")
		if got := p.Compute(key, msg); !bytes.Equal(got, want) {
			t.Errorf("%v %s: %x, want %x", id, v.Str(t, "ref"), got, want)
		}
		// Split input and a reused keyed hash give the same answer.
		if got := p.Compute(key, msg[:3], nil, msg[3:]); !bytes.Equal(got, want) {
			t.Errorf("%v %s in parts: %x, want %x", id, v.Str(t, "ref"), got, want)
		}
		h := p.New(key)
		h.Write([]byte("garbage"))
		h.Reset()
		h.Write(msg)
		if got := h.Sum(nil); !bytes.Equal(got, want) {
			t.Errorf("%v %s after Reset: %x, want %x", id, v.Str(t, "ref"), got, want)
		}
		if len(want) != p.Size() {
			t.Errorf("%v: Size %d, output %d", id, p.Size(), len(want))
		}
	}
	for _, id := range []message.PRFID{message.PRFHMACSHA1, message.PRFAES128XCBC, message.PRFHMACSHA2256, message.PRFHMACSHA2384, message.PRFHMACSHA2512, message.PRFAES128CMAC} {
		if !seen[id] {
			t.Errorf("no vector for %v", id)
		}
	}
}

func TestNewPRFUnknown(t *testing.T) {
	for _, id := range []message.PRFID{0, message.PRFHMACMD5, 3, 9} {
		if _, err := NewPRF(id); !errors.Is(err, xe.UnknownAlgorithm) {
			t.Errorf("NewPRF(%v) = %v, want UnknownAlgorithm", id, err)
		}
	}
}

// TestPlus checks prf+ against its definition in RFC 7296 §2.13, block by
// block, and its limit of 255 blocks.
func TestPlus(t *testing.T) {
	for _, id := range []message.PRFID{message.PRFHMACSHA1, message.PRFHMACSHA2384, message.PRFAES128XCBC, message.PRFAES128CMAC} {
		p := mustPRF(t, id)
		key, s1, s2 := []byte("prf+ key"), []byte("seed "), []byte("parts")
		n := 3*p.Size() + 5
		got, err := p.Plus(key, n, s1, s2)
		if err != nil {
			t.Fatal(err)
		}
		var want, prev []byte
		for i := byte(1); len(want) < n; i++ {
			prev = p.Compute(key, prev, s1, s2, []byte{i})
			want = append(want, prev...)
		}
		if !bytes.Equal(got, want[:n]) {
			t.Errorf("%v: prf+ = %x, want %x", id, got, want[:n])
		}
		if got, _ := p.Plus(key, 0); len(got) != 0 {
			t.Errorf("%v: prf+ of 0 octets = %x", id, got)
		}
		if _, err := p.Plus(key, p.MaxPlusLen()); err != nil {
			t.Errorf("%v: prf+ of %d octets: %v", id, p.MaxPlusLen(), err)
		}
		if _, err := p.Plus(key, p.MaxPlusLen()+1); !errors.Is(err, xe.BadParam) {
			t.Errorf("%v: prf+ past 255 blocks: %v", id, err)
		}
	}
}
