package suite

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/sabre-ipsec/sabre/xe"
)

// gmacICVLen is the AES-GMAC tag, never truncated (RFC 4543 §3.4).
const gmacICVLen = 16

// newGMAC returns AES-GCM for GMAC, which is GCM with an empty plaintext
// (RFC 4543 §2), and the salt from key = AES key || 4-octet salt
// (RFC 4543 §5.4).
func newGMAC(id any, key []byte) (cipher.AEAD, [4]byte, int, error) {
	var salt [4]byte
	if err := checkAESSaltKey(id, key, "RFC 4543 §5.4"); err != nil {
		return nil, salt, 0, err
	}
	k := len(key) - saltLen
	b, err := aes.NewCipher(key[:k])
	if err != nil {
		return nil, salt, 0, err
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		return nil, salt, 0, err
	}
	copy(salt[:], key[k:])
	return g, salt, k, nil
}

// gmacESP is ENCR_NULL_AUTH_AES_GMAC (RFC 4543 §3): nothing is encrypted;
// the AAD is the SPI, the (extended) sequence number, the IV and the
// payload with its trailer (RFC 4543 §3.3, §3.5 Figure 4), the nonce is
// salt || IV, and the ICV is the 16-octet tag.
type gmacESP struct {
	espBase
	g    cipher.AEAD
	salt [4]byte
	pool sync.Pool // of *gmacScratch
}

type gmacScratch struct {
	nonce [12]byte
	icv   [gmacICVLen]byte
	buf   []byte // gmacAH: the packet and ESN suffix, when they must be copied
}

func newGMACESP(key []byte) (*gmacESP, error) {
	g, salt, k, err := newGMAC(EncrNullAuthAESGMAC, key)
	if err != nil {
		return nil, err
	}
	e := &gmacESP{
		espBase: espBase{name: EncrName(EncrNullAuthAESGMAC, k*8), ivLen: 8, blockLen: 4, icvLen: gmacICVLen},
		g:       g,
		salt:    salt,
	}
	e.pool.New = func() any { return new(gmacScratch) }
	return e, nil
}

func (e *gmacESP) FillIV(iv []byte, seq uint64) { counterIV(iv, seq) }

// esnAAD rearranges esp[:end] into the AAD of RFC 4543 Figure 3, where
// the 64-bit ESN sits between the SPI and the rest: the packet up to the
// ICV moves 4 octets back into the ICV field, whose first 4 octets the
// caller has saved, and the high half of the sequence number fills the gap.
// esnRestore undoes it.
func esnAAD(esp []byte, end int, seqHigh uint32) []byte {
	copy(esp[8:end+4], esp[4:end])
	binary.BigEndian.PutUint32(esp[4:8], seqHigh)
	return esp[:end+4]
}

func esnRestore(esp []byte, end int) { copy(esp[4:end], esp[8:end+4]) }

func (e *gmacESP) Seal(esp []byte, seq uint64, esn bool) {
	_, end := e.sealBounds(esp)
	s := e.pool.Get().(*gmacScratch)
	espNonce(&s.nonce, &e.salt, esp)
	if !esn {
		e.g.Seal(esp[end:end], s.nonce[:], nil, esp[:end])
	} else {
		e.g.Seal(s.icv[:0], s.nonce[:], nil, esnAAD(esp, end, uint32(seq>>32)))
		esnRestore(esp, end)
		copy(esp[end:], s.icv[:])
	}
	e.pool.Put(s)
}

func (e *gmacESP) Open(esp []byte, seqHigh uint32, esn bool) error {
	_, end, ok := e.payload(esp)
	if !ok {
		return e.short(esp)
	}
	s := e.pool.Get().(*gmacScratch)
	defer e.pool.Put(s)
	espNonce(&s.nonce, &e.salt, esp)
	var err error
	if !esn {
		_, err = e.g.Open(s.icv[:0], s.nonce[:], esp[end:], esp[:end])
	} else {
		copy(s.icv[:], esp[end:])
		_, err = e.g.Open(nil, s.nonce[:], s.icv[:], esnAAD(esp, end, seqHigh))
		esnRestore(esp, end)
		copy(esp[end:], s.icv[:])
	}
	if err != nil {
		return e.mismatch(esp)
	}
	return nil
}

// Close zeroes the salt; the AES key schedule cannot be reached.
func (e *gmacESP) Close() { clear(e.salt[:]) }

// gmacAH is AUTH_AES_GMAC for AH (RFC 4543 §4): the ICV field ("Authentication
// Data") carries an 8-octet IV followed by the 16-octet tag (Figure 5). The
// nonce is salt || IV. The AAD is the packet as AH authenticates it (RFC
// 4543 §4 refers to RFC 4302), with the ICV field zero for the computation
// (RFC 4302 §3.3.3.1). RFC 4543 does not say whether the IV half of the
// field counts; Sabre zeroes the whole field, as RFC 4302 says of the ICV
// field, and the IV is authenticated through the nonce. With ESN the high
// half of the sequence number follows the packet (RFC 4302 §3.3.3.2.2).
type gmacAH struct {
	name string
	g    cipher.AEAD
	salt [4]byte
	pool sync.Pool // of *gmacScratch
}

// gmacAHICVLen is the AH ICV field of AES-GMAC: IV and tag (RFC 4543 §4
// Figure 5).
const gmacAHICVLen = 8 + gmacICVLen

func newGMACAH(id IntegID, key []byte) (*gmacAH, error) {
	want, _ := IntegKeyLen(id)
	if len(key) != want {
		return nil, xe.Errorf(xe.BadParam, "suite: %v key is %d octets; want %d (%d-bit AES key and 4-octet salt, RFC 4543 §5.4)", id, len(key), want, (want-saltLen)*8)
	}
	g, salt, k, err := newGMAC(id, key)
	if err != nil {
		return nil, err
	}
	a := &gmacAH{name: EncrName(EncrNullAuthAESGMAC, k*8), g: g, salt: salt}
	a.pool.New = func() any { return new(gmacScratch) }
	return a, nil
}

func (a *gmacAH) Name() string { return a.name }
func (a *gmacAH) ICVLen() int  { return gmacAHICVLen }

// aad returns the AAD for pkt, whose ICV field is already zero.
func (a *gmacAH) aad(s *gmacScratch, pkt []byte, seqHigh uint32, esn bool) []byte {
	if !esn {
		return pkt
	}
	s.buf = binary.BigEndian.AppendUint32(append(s.buf[:0], pkt...), seqHigh)
	return s.buf
}

// Sum writes the IV, the sequence number (RFC 4543 §3.1: it never repeats
// under a key), and the tag into the ICV field.
func (a *gmacAH) Sum(pkt []byte, icvOff int, seq uint64, esn bool) {
	if icvOff < 0 || icvOff+gmacAHICVLen > len(pkt) {
		panic(fmt.Sprintf("suite: %s: ICV field at %d does not fit in a %d-octet packet", a.name, icvOff, len(pkt)))
	}
	field := pkt[icvOff : icvOff+gmacAHICVLen]
	s := a.pool.Get().(*gmacScratch)
	copy(s.nonce[:4], a.salt[:])
	binary.BigEndian.PutUint64(s.nonce[4:], seq)
	clear(field)
	a.g.Seal(s.icv[:0], s.nonce[:], nil, a.aad(s, pkt, uint32(seq>>32), esn))
	copy(field[:8], s.nonce[4:])
	copy(field[8:], s.icv[:])
	a.pool.Put(s)
}

// Verify checks the tag; the ICV field is restored before it returns.
func (a *gmacAH) Verify(pkt []byte, icvOff int, seqHigh uint32, esn bool) error {
	if icvOff < 0 || icvOff+gmacAHICVLen > len(pkt) {
		return xe.Errorf(xe.MalformedPacket, "suite: %s: ICV field at %d does not fit in a %d-octet packet", a.name, icvOff, len(pkt))
	}
	field := pkt[icvOff : icvOff+gmacAHICVLen]
	s := a.pool.Get().(*gmacScratch)
	defer a.pool.Put(s)
	copy(s.nonce[:4], a.salt[:])
	copy(s.nonce[4:], field[:8])
	copy(s.icv[:], field[8:])
	clear(field)
	_, err := a.g.Open(nil, s.nonce[:], s.icv[:], a.aad(s, pkt, seqHigh, esn))
	copy(field[:8], s.nonce[4:])
	copy(field[8:], s.icv[:])
	if err != nil {
		return ahMismatch(a.name, pkt, icvOff)
	}
	return nil
}

// Close zeroes the salt; the AES key schedule cannot be reached.
func (a *gmacAH) Close() { clear(a.salt[:]) }
