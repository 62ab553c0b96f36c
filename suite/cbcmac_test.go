package suite

import (
	"bytes"
	"crypto/rand"
	"testing"

	"github.com/sabre-ipsec/sabre/internal/testutil/vectors"
)

// TestXCBCKnownAnswers checks AES-XCBC-MAC against RFC 3566 §4.6 (the full
// 128-bit MAC, and the 96-bit ICV through the integrity transform) and
// AES-XCBC-PRF-128 against RFC 4434 §5.
func TestXCBCKnownAnswers(t *testing.T) {
	for _, v := range vectors.Read(t, "testdata/rfc3566-aes-xcbc.txt") {
		key, msg, want := v.Bytes(t, "key"), v.Bytes(t, "msg"), v.Bytes(t, "mac")
		if v.Str(t, "rfc") == "4434" {
			if got := XCBCPRF128(key, msg); !bytes.Equal(got, want) {
				t.Errorf("RFC 4434 case %s: PRF %x, want %x", v.Str(t, "case"), got, want)
			}
			continue
		}
		m, err := NewXCBC(key)
		if err != nil {
			t.Fatal(err)
		}
		m.Write(msg)
		if got := m.Sum(nil); !bytes.Equal(got, want) {
			t.Errorf("RFC 3566 case %s: MAC %x, want %x", v.Str(t, "case"), got, want)
		}
		if got := XCBCPRF128(key, msg); !bytes.Equal(got, want) {
			t.Errorf("RFC 3566 case %s: PRF with 16-octet key %x, want %x", v.Str(t, "case"), got, want)
		}
		checkICV(t, IntegAESXCBC96, key, msg, want[:12])
	}
}

// TestCMACKnownAnswers checks AES-CMAC against RFC 4493 §4 (and the 96-bit
// ICV of RFC 4494 through the integrity transform) and AES-CMAC-PRF-128
// against RFC 4615 §4.
func TestCMACKnownAnswers(t *testing.T) {
	for _, v := range vectors.Read(t, "testdata/rfc4493-aes-cmac.txt") {
		key, msg, want := v.Bytes(t, "key"), v.Bytes(t, "msg"), v.Bytes(t, "mac")
		if v.Str(t, "rfc") == "4615" {
			if got := CMACPRF128(key, msg); !bytes.Equal(got, want) {
				t.Errorf("RFC 4615 case %s: PRF %x, want %x", v.Str(t, "case"), got, want)
			}
			continue
		}
		m, err := NewCMAC(key)
		if err != nil {
			t.Fatal(err)
		}
		m.Write(msg)
		if got := m.Sum(nil); !bytes.Equal(got, want) {
			t.Errorf("RFC 4493 example %s: MAC %x, want %x", v.Str(t, "case"), got, want)
		}
		checkICV(t, IntegAESCMAC96, key, msg, want[:12])
	}
}

// checkICV computes the ICV of msg with the integrity transform id.
func checkICV(t *testing.T, id IntegID, key, msg, want []byte) {
	t.Helper()
	in, err := newIntegrity(id, key, false)
	if err != nil {
		t.Fatal(err)
	}
	s := in.newState()
	s.reset()
	s.write(msg)
	got := make([]byte, in.icvLen)
	s.sum(got)
	if !bytes.Equal(got, want) {
		t.Errorf("%v ICV of %d octets: %x, want %x", id, len(msg), got, want)
	}
}

// TestCMACWycheproof runs Project Wycheproof's AES-CMAC vectors for 128-,
// 192- and 256-bit keys.
func TestCMACWycheproof(t *testing.T) {
	w := readWycheproof(t, "aes_cmac_test.json")
	n := 0
	for _, g := range w.TestGroups {
		for _, tc := range g.Tests {
			m, err := NewCMAC(tc.Key)
			if err != nil {
				t.Fatalf("tcId %d: %v", tc.TcID, err)
			}
			m.Write(tc.Msg)
			got := m.Sum(nil)[:g.TagSize/8]
			if ok := bytes.Equal(got, tc.Tag); ok != (tc.Result == "valid") {
				t.Errorf("tcId %d (%s): match %v, result %s", tc.TcID, tc.Comment, ok, tc.Result)
			}
			n++
		}
	}
	if n < 300 {
		t.Fatalf("only %d tests", n)
	}
}

// TestCBCMACStreaming checks that any split of the message, zeros and the
// ESN suffix give the MAC of the concatenation, at every length around the
// block boundaries.
func TestCBCMACStreaming(t *testing.T) {
	key := make([]byte, 16)
	rand.Read(key)
	msg := make([]byte, 80)
	rand.Read(msg)
	for _, newMAC := range []func([]byte) (*CBCMAC, error){NewXCBC, NewCMAC} {
		ref, _ := newMAC(key)
		st := ref.k.newState()
		for n := 0; n <= len(msg); n++ {
			ref.Reset()
			ref.Write(msg[:n])
			want := ref.Sum(nil)
			for cut := 0; cut <= n; cut++ {
				st.reset()
				st.write(msg[:cut])
				st.write(msg[cut:n])
				var got [16]byte
				st.sum(got[:])
				if !bytes.Equal(got[:], want) {
					t.Fatalf("length %d split at %d: %x, want %x", n, cut, got, want)
				}
			}
		}
		// Zeros and the big-endian suffix.
		ref.Reset()
		ref.Write(msg[:7])
		ref.Write(make([]byte, 37))
		ref.Write([]byte{0xde, 0xad, 0xbe, 0xef})
		want := ref.Sum(nil)
		st.reset()
		st.write(msg[:7])
		st.writeZeros(37)
		st.writeUint32(0xdeadbeef)
		var got [16]byte
		st.sum(got[:])
		if !bytes.Equal(got[:], want) {
			t.Fatalf("zeros and suffix: %x, want %x", got, want)
		}
	}
}

func TestCBCMACKeyLengths(t *testing.T) {
	if _, err := NewXCBC(make([]byte, 24)); err == nil {
		t.Error("NewXCBC accepted a 24-octet key")
	}
	if _, err := NewCMAC(make([]byte, 17)); err == nil {
		t.Error("NewCMAC accepted a 17-octet key")
	}
	// The PRFs take keys of any length (RFC 4434 §2, RFC 4615 §3), and a
	// short XCBC-PRF key is zero-padded.
	k10 := []byte("0123456789")
	if !bytes.Equal(XCBCPRF128(k10, nil), XCBCPRF128(append(k10, make([]byte, 6)...), nil)) {
		t.Error("XCBC-PRF-128 does not zero-pad a short key")
	}
}
