package suite

import (
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/sabre-ipsec/sabre/xe"
)

// espHeaderLen is the ESP header: SPI and the low 32 bits of the sequence
// number (RFC 4303 §2).
const espHeaderLen = 8

// NewESP keys the ESP transform c describes. Combined-mode algorithms
// (AES-GCM, AES-GMAC, ChaCha20-Poly1305) take no integrity transform; the
// others need one (Sabre offers no confidentiality-only ESP, and RFC 4303
// §3.2 forbids NULL encryption without integrity). Keys are copied or
// expanded; c's slices are not retained.
func NewESP(c ESPConfig) (ESP, error) {
	if c.Encr.IsAEAD() {
		if c.Integ != IntegNone || len(c.IntegKey) != 0 {
			return nil, xe.Errorf(xe.BadParam, "suite: combined-mode %v must not be used with integrity transform %v (RFC 4303 §3.2.3)", c.Encr, c.Integ)
		}
		switch c.Encr {
		case EncrAESGCM12, EncrAESGCM16, EncrChaCha20Poly1305:
			return newAEADESP(c.Encr, c.EncrKey)
		case EncrAESGCM8:
			return newGCMShortESP(c.EncrKey)
		default:
			return newGMACESP(c.EncrKey)
		}
	}
	var ci espCipher
	var err error
	switch c.Encr {
	case EncrAESCBC:
		ci, err = newAESCBC(c.EncrKey)
	case Encr3DES:
		ci, err = new3DESCBC(c.EncrKey)
	case EncrAESCTR:
		ci, err = newCTRCipher(c.EncrKey)
	case EncrNull:
		if len(c.EncrKey) != 0 {
			return nil, xe.Errorf(xe.BadParam, "suite: %v takes no key, got %d octets", c.Encr, len(c.EncrKey))
		}
		ci = nullCipher{}
	default:
		return nil, xe.Errorf(xe.UnknownAlgorithm, "suite: unknown encryption transform %d", uint16(c.Encr))
	}
	if err != nil {
		return nil, err
	}
	if c.Integ == IntegNone {
		return nil, xe.Errorf(xe.BadParam, "suite: %v needs an integrity transform (RFC 4303 §3.2; Sabre has no confidentiality-only ESP)", c.Encr)
	}
	in, err := newIntegrity(c.Integ, c.IntegKey, c.ShortICV)
	if err != nil {
		ci.zero()
		return nil, err
	}
	return newEncAuthESP(ci, in), nil
}

// espBase holds what every ESP transform reports about itself.
type espBase struct {
	name                    string
	ivLen, blockLen, icvLen int
}

func (b *espBase) Name() string  { return b.name }
func (b *espBase) IVLen() int    { return b.ivLen }
func (b *espBase) BlockLen() int { return b.blockLen }
func (b *espBase) ICVLen() int   { return b.icvLen }

// payload returns the bounds of the encrypted part of esp: what follows the
// header and IV, up to the ICV. ok is false if esp is too short for them.
func (b *espBase) payload(esp []byte) (start, end int, ok bool) {
	start = espHeaderLen + b.ivLen
	end = len(esp) - b.icvLen
	return start, end, end >= start
}

// sealBounds is payload for Seal, where a packet too short for header, IV
// and ICV is the caller's bug.
func (b *espBase) sealBounds(esp []byte) (start, end int) {
	start, end, ok := b.payload(esp)
	if !ok {
		panic(fmt.Sprintf("suite: %s: %d-octet ESP packet cannot hold the %d-octet header, %d-octet IV and %d-octet ICV",
			b.name, len(esp), espHeaderLen, b.ivLen, b.icvLen))
	}
	return start, end
}

// short is the error for an inbound packet too short for header, IV and ICV.
func (b *espBase) short(esp []byte) error {
	return xe.Errorf(xe.MalformedPacket, "suite: %s: %d-octet ESP packet cannot hold the %d-octet header, %d-octet IV and %d-octet ICV",
		b.name, len(esp), espHeaderLen, b.ivLen, b.icvLen)
}

// mismatch is the error for a bad ICV (RFC 4303 §3.4.4.1): the bare code,
// which allocates nothing, as a flood of forged packets must not; the
// caller holds the packet and names its SPI and sequence number.
func (b *espBase) mismatch([]byte) error {
	return xe.ESPDigestMismatch
}

// counterIV writes seq as the IV, as RFC 4106 §3.1, RFC 4543 §3.1, RFC 3686
// §3 and RFC 7634 §2 allow: it never repeats under one key.
func counterIV(iv []byte, seq uint64) {
	if len(iv) != 8 {
		panic(fmt.Sprintf("suite: IV field is %d octets, want 8", len(iv)))
	}
	binary.BigEndian.PutUint64(iv, seq)
}

// espCipher is an ESP encryption transform used with a separate integrity
// transform: AES-CBC, 3DES-CBC, AES-CTR or NULL.
type espCipher interface {
	name() string
	ivLen() int
	blockLen() int
	fillIV(iv []byte, seq uint64)
	// newScratch returns a goroutine's working state for crypt.
	newScratch() any
	// crypt encrypts or decrypts esp[start:end] in place under the IV in
	// esp[espHeaderLen:start]. It may overwrite octets of esp behind end
	// and restores them.
	crypt(scratch any, esp []byte, start, end int, decrypt bool)
	zero()
}

// encAuthESP is ESP with separate encryption and integrity transforms:
// encrypt, then MAC the ESP header, IV and ciphertext (RFC 4303 §3.3.2.1);
// on input, verify the ICV before decrypting anything (RFC 4303 §3.4.4.1).
// With ESN the high 32 bits of the sequence number are appended to the MAC
// input but not sent (RFC 4303 §2.2.1, §3.3.2.1).
type encAuthESP struct {
	espBase
	c    espCipher
	mac  *integrity
	pool sync.Pool // of *encAuthScratch
}

type encAuthScratch struct {
	m   macState
	cs  any
	icv [maxICVLen]byte
}

func newEncAuthESP(c espCipher, in *integrity) *encAuthESP {
	e := &encAuthESP{
		espBase: espBase{
			name:     c.name() + "/" + in.name,
			ivLen:    c.ivLen(),
			blockLen: c.blockLen(),
			icvLen:   in.icvLen,
		},
		c:   c,
		mac: in,
	}
	e.pool.New = func() any {
		return &encAuthScratch{m: in.newState(), cs: c.newScratch()}
	}
	return e
}

func (e *encAuthESP) FillIV(iv []byte, seq uint64) { e.c.fillIV(iv, seq) }

// icv computes the ICV of esp into s.icv.
func (e *encAuthESP) icv(s *encAuthScratch, esp []byte, end int, seqHigh uint32, esn bool) []byte {
	s.m.reset()
	s.m.write(esp[:end])
	if esn {
		s.m.writeUint32(seqHigh)
	}
	s.m.sum(s.icv[:e.icvLen])
	return s.icv[:e.icvLen]
}

func (e *encAuthESP) Seal(esp []byte, seq uint64, esn bool) {
	start, end := e.sealBounds(esp)
	if (end-start)%e.blockLen != 0 {
		panic(fmt.Sprintf("suite: %s: %d-octet payload is not a multiple of the %d-octet block", e.name, end-start, e.blockLen))
	}
	s := e.pool.Get().(*encAuthScratch)
	e.c.crypt(s.cs, esp, start, end, false)
	copy(esp[end:], e.icv(s, esp, end, uint32(seq>>32), esn))
	e.pool.Put(s)
}

func (e *encAuthESP) Open(esp []byte, seqHigh uint32, esn bool) error {
	start, end, ok := e.payload(esp)
	if !ok {
		return e.short(esp)
	}
	if (end-start)%e.blockLen != 0 {
		return xe.Errorf(xe.MalformedPacket, "suite: %s: %d-octet payload is not a multiple of the %d-octet block", e.name, end-start, e.blockLen)
	}
	s := e.pool.Get().(*encAuthScratch)
	defer e.pool.Put(s)
	if subtle.ConstantTimeCompare(e.icv(s, esp, end, seqHigh, esn), esp[end:]) != 1 {
		return e.mismatch(esp)
	}
	e.c.crypt(s.cs, esp, start, end, true)
	return nil
}

// Close zeroes the integrity key state and the cipher's salt. Key schedules
// inside crypto/aes and crypto/des cannot be reached and are left to the
// garbage collector.
func (e *encAuthESP) Close() {
	e.c.zero()
	e.mac.zero()
}
