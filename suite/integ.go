package suite

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"

	"github.com/sabre-ipsec/sabre/xe"
)

// maxICVLen is the longest ICV of any integrity transform here
// (AUTH_HMAC_SHA2_512_256).
const maxICVLen = 32

// shortICVLen is the ICV length with ESPConfig.ShortICV: 96 bits, the
// reference's SP_AUTH_SHA2_ICV_SHORT.
const shortICVLen = 12

// zeros is read from, never written: the source of the zeroed AH ICV field.
var zeros [64]byte

// integrity is a keyed integrity transform (RFC 4303 §3.2.2, RFC 4302 §3.3.3)
// as ESP with a separate cipher and AH use it: a MAC truncated to icvLen.
type integrity struct {
	id     IntegID
	name   string
	icvLen int
	// newState returns a fresh computation for the pools of the ESP or AH
	// transforms that use this key.
	newState func() macState
	// zero forgets the key material the transform holds.
	zero func()
}

// macState is one ICV computation in progress. States are reused: reset
// starts the next message under the same key. A state belongs to one
// goroutine at a time.
type macState interface {
	reset()
	write(p []byte)
	// writeZeros feeds n zero octets: the AH ICV field as RFC 4302 §3.3.3.1
	// has it for the computation.
	writeZeros(n int)
	// writeUint32 feeds v big-endian: the high half of an extended sequence
	// number (RFC 4303 §3.3.2.1, RFC 4302 §3.3.3.2.2).
	writeUint32(v uint32)
	// sum writes the first len(out) octets of the MAC of the message.
	sum(out []byte)
}

// newIntegrity keys the integrity transform id. short selects the 96-bit
// ICV for the HMAC-SHA-2 transforms. AES-GMAC (IDs 9-11) is keyed by NewAH
// itself, since its ICV field also carries an IV.
func newIntegrity(id IntegID, key []byte, short bool) (*integrity, error) {
	want, err := IntegKeyLen(id)
	if err != nil {
		return nil, err
	}
	if id == IntegNone {
		return nil, xe.Errorf(xe.BadParam, "suite: integrity transform NONE has no ICV")
	}
	if len(key) != want {
		return nil, xe.Errorf(xe.BadParam, "suite: %v key is %d octets; want %d", id, len(key), want)
	}
	in := &integrity{id: id}
	switch id {
	case IntegHMACMD596:
		// RFC 2403 §2: HMAC-MD5 truncated to 96 bits.
		in.name, in.icvLen = IntegName(id), 12
		in.newState, in.zero = newHMAC(md5.New, key).states()
	case IntegHMACSHA196:
		// RFC 2404 §2: HMAC-SHA-1 truncated to 96 bits.
		in.name, in.icvLen = IntegName(id), 12
		in.newState, in.zero = newHMAC(sha1.New, key).states()
	case IntegHMACSHA256128, IntegHMACSHA384192, IntegHMACSHA512256:
		// RFC 4868 §2.3: truncated to half the hash length.
		h, bits := sha256.New, 256
		if id == IntegHMACSHA384192 {
			h, bits = sha512.New384, 384
		} else if id == IntegHMACSHA512256 {
			h, bits = sha512.New, 512
		}
		in.icvLen = bits / 16
		if short {
			in.icvLen = shortICVLen
		}
		in.name = IntegName(id)
		if short {
			in.name += "-96" // SP_AUTH_SHA2_ICV_SHORT
		}
		in.newState, in.zero = newHMAC(h, key).states()
	case IntegAESXCBC96:
		// RFC 3566 §4: AES-XCBC-MAC truncated to 96 bits.
		m, _ := NewXCBC(key)
		in.name, in.icvLen = IntegName(id), 12
		in.newState, in.zero = m.k.newState, m.Zero
	case IntegAESCMAC96:
		// RFC 4494 §2: AES-CMAC with a 128-bit key, truncated to 96 bits.
		m, _ := NewCMAC(key)
		in.name, in.icvLen = IntegName(id), 12
		in.newState, in.zero = m.k.newState, m.Zero
	default: // AES-GMAC
		return nil, xe.Errorf(xe.BadParam, "suite: %v is an AH transform and must not be used with ESP (RFC 4543 §5.3)", id)
	}
	return in, nil
}
