package suite

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"hash"
	"path/filepath"
	"testing"

	"github.com/sabre-ipsec/sabre/internal/testutil/vectors"
)

var hashes = map[string]func() hash.Hash{
	"md5": md5.New, "sha1": sha1.New, "sha256": sha256.New, "sha384": sha512.New384, "sha512": sha512.New,
}

// hmacOf computes HMAC with this package's hmacKey.
func hmacOf(h func() hash.Hash, key, data []byte) []byte {
	s := newHMAC(h, key).newState()
	s.reset()
	s.write(data)
	out := make([]byte, h().Size())
	s.sum(out)
	return out
}

// TestHMACKnownAnswers checks HMAC against RFC 2202 §2-§3 (MD5, SHA-1) and
// RFC 4231 §4 (SHA-2), including the truncated case 5.
func TestHMACKnownAnswers(t *testing.T) {
	for _, file := range []string{"rfc2202-hmac.txt", "rfc4231-hmac-sha2.txt"} {
		for _, v := range vectors.Read(t, filepath.Join("testdata", file)) {
			h := hashes[v.Str(t, "hash")]
			key, data := v.Bytes(t, "key"), v.Bytes(t, "data")
			got := hmacOf(h, key, data)
			if v.Has("mac") {
				if want := v.Bytes(t, "mac"); !bytes.Equal(got, want) {
					t.Errorf("%s %s case %s: HMAC %x, want %x", file, v.Str(t, "hash"), v.Str(t, "case"), got, want)
				}
			} else if want := v.Bytes(t, "trunc"); !bytes.Equal(got[:len(want)], want) {
				t.Errorf("%s %s case %s: truncated HMAC %x, want %x", file, v.Str(t, "hash"), v.Str(t, "case"), got[:len(want)], want)
			}
			m := hmac.New(h, key)
			m.Write(data)
			if std := m.Sum(nil); !bytes.Equal(got, std) {
				t.Errorf("%s case %s: differs from crypto/hmac", file, v.Str(t, "case"))
			}
		}
	}
}

// TestHMACICVKnownAnswers checks the AUTH transforms, keyed and truncated
// as ESP and AH use them, against RFC 4868 §2.7.2, and the 96-bit
// transforms against RFC 2202 with their RFC 2403/2404 key lengths.
func TestHMACICVKnownAnswers(t *testing.T) {
	ids := map[string]IntegID{"sha256": IntegHMACSHA256128, "sha384": IntegHMACSHA384192, "sha512": IntegHMACSHA512256,
		"md5": IntegHMACMD596, "sha1": IntegHMACSHA196}
	check := func(file string, v vectors.Vector, id IntegID, want []byte) {
		in, err := newIntegrity(id, v.Bytes(t, "key"), false)
		if err != nil {
			t.Fatalf("%s %s: %v", file, v.ID, err)
		}
		if in.icvLen != len(want) {
			t.Fatalf("%s %v: ICV length %d, want %d", file, id, in.icvLen, len(want))
		}
		s := in.newState()
		s.reset()
		s.write(v.Bytes(t, "data"))
		got := make([]byte, in.icvLen)
		s.sum(got)
		if !bytes.Equal(got, want) {
			t.Errorf("%s %v case %s: ICV %x, want %x", file, id, v.Str(t, "case"), got, want)
		}
	}
	for _, v := range vectors.Read(t, "testdata/rfc4868-hmac-sha2.txt") {
		check("rfc4868", v, ids[v.Str(t, "hash")], v.Bytes(t, "icv"))
	}
	n := 0
	for _, v := range vectors.Read(t, "testdata/rfc2202-hmac.txt") {
		id := ids[v.Str(t, "hash")]
		if want, _ := IntegKeyLen(id); len(v.Bytes(t, "key")) == want {
			check("rfc2202", v, id, v.Bytes(t, "mac")[:12])
			n++
		}
	}
	if n < 6 {
		t.Fatalf("only %d RFC 2202 cases have the transforms' key lengths", n)
	}
}

// TestHMACWycheproof runs Project Wycheproof's HMAC-SHA1 and HMAC-SHA256
// vectors (full and truncated tags; invalid ones have modified tags).
func TestHMACWycheproof(t *testing.T) {
	for file, h := range map[string]func() hash.Hash{"hmac_sha1_test.json": sha1.New, "hmac_sha256_test.json": sha256.New} {
		w := readWycheproof(t, file)
		n := 0
		for _, g := range w.TestGroups {
			for _, tc := range g.Tests {
				got := hmacOf(h, tc.Key, tc.Msg)[:g.TagSize/8]
				if ok := bytes.Equal(got, tc.Tag); ok != (tc.Result == "valid") {
					t.Errorf("%s tcId %d (%s): match %v, result %s", file, tc.TcID, tc.Comment, ok, tc.Result)
				}
				n++
			}
		}
		if n < 100 {
			t.Fatalf("%s: only %d tests", file, n)
		}
	}
}

// TestHMACStreaming checks that pieces, zeros and the ESN suffix feed the
// MAC as the concatenation would, against crypto/hmac.
func TestHMACStreaming(t *testing.T) {
	key := make([]byte, 32)
	rand.Read(key)
	msg := make([]byte, 300)
	rand.Read(msg)
	s := newHMAC(sha256.New, key).newState()
	for round := range 2 { // the second round checks reset
		s.reset()
		s.write(msg[:10])
		s.writeZeros(100)
		s.write(msg[110:])
		s.writeUint32(0x01020304)
		got := make([]byte, 32)
		s.sum(got)
		m := hmac.New(sha256.New, key)
		m.Write(msg[:10])
		m.Write(make([]byte, 100))
		m.Write(msg[110:])
		m.Write([]byte{1, 2, 3, 4})
		if want := m.Sum(nil); !bytes.Equal(got, want) {
			t.Fatalf("round %d: %x, want %x", round, got, want)
		}
	}
}
