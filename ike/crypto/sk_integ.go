package ikecrypto

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"hash"

	"github.com/sabre-ipsec/sabre/suite"
	"github.com/sabre-ipsec/sabre/xe"
)

// skICVLen returns the ICV length of an integrity transform allowed for SK
// payloads with a non-AEAD cipher.
func skICVLen(integ suite.IntegID) (int, error) {
	switch integ {
	case suite.IntegHMACSHA196, suite.IntegAESXCBC96, suite.IntegAESCMAC96:
		return 12, nil // RFC 2404 §2, RFC 3566 §4, RFC 4494 §2
	case suite.IntegHMACSHA256128:
		return 16, nil // RFC 4868 §2.3
	case suite.IntegHMACSHA384192:
		return 24, nil
	case suite.IntegHMACSHA512256:
		return 32, nil
	case suite.IntegNone:
		return 0, xe.Errorf(xe.BadParam, "ikecrypto: %v needs an integrity transform (RFC 7296 §3.3.3)", suite.EncrAESCBC)
	}
	return 0, xe.Errorf(xe.UnknownAlgorithm, "ikecrypto: integrity transform %v not supported for SK payloads", integ)
}

// skInteg is a keyed integrity transform for SK payloads: a MAC truncated
// to icvLen octets.
type skInteg struct {
	name   string
	icvLen int
	key    []byte
	newMAC func(key []byte) hash.Hash
}

func newSKInteg(integ suite.IntegID, key []byte) (*skInteg, error) {
	icv, err := skICVLen(integ)
	if err != nil {
		return nil, err
	}
	want, _ := suite.IntegKeyLen(integ)
	if len(key) != want {
		return nil, xe.Errorf(xe.BadParam, "ikecrypto: %v key is %d octets; want %d", integ, len(key), want)
	}
	in := &skInteg{icvLen: icv, key: append([]byte(nil), key...)}
	hmacOf := func(h func() hash.Hash) func([]byte) hash.Hash {
		return func(k []byte) hash.Hash { return hmac.New(h, k) }
	}
	switch integ {
	case suite.IntegHMACSHA196:
		in.name, in.newMAC = "hmac-sha1-96", hmacOf(sha1.New)
	case suite.IntegHMACSHA256128:
		in.name, in.newMAC = "hmac-sha256-128", hmacOf(sha256.New)
	case suite.IntegHMACSHA384192:
		in.name, in.newMAC = "hmac-sha384-192", hmacOf(sha512.New384)
	case suite.IntegHMACSHA512256:
		in.name, in.newMAC = "hmac-sha512-256", hmacOf(sha512.New)
	case suite.IntegAESXCBC96:
		in.name = "aes-xcbc-96"
		in.newMAC = func(k []byte) hash.Hash { m, _ := suite.NewXCBC(k); return m }
	case suite.IntegAESCMAC96:
		in.name = "aes-cmac-96"
		in.newMAC = func(k []byte) hash.Hash { m, _ := suite.NewCMAC(k); return m }
	}
	return in, nil
}

// sum returns the untruncated MAC of the concatenated parts.
func (in *skInteg) sum(parts ...[]byte) []byte {
	m := in.newMAC(in.key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

func (in *skInteg) zero() { clear(in.key) }
