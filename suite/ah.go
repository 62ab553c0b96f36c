package suite

import (
	"crypto/subtle"
	"fmt"
	"sync"

	"github.com/sabre-ipsec/sabre/xe"
)

// NewAH keys the AH integrity transform integ (RFC 4302 §3.3.3). shortICV
// truncates the HMAC-SHA-2 ICVs to 96 bits. The key is copied or expanded,
// not retained.
func NewAH(integ IntegID, key []byte, shortICV bool) (AH, error) {
	switch integ {
	case IntegAES128GMAC, IntegAES192GMAC, IntegAES256GMAC:
		return newGMACAH(integ, key)
	case IntegNone:
		return nil, xe.Errorf(xe.BadParam, "suite: AH needs an integrity transform, not NONE")
	}
	in, err := newIntegrity(integ, key, shortICV)
	if err != nil {
		return nil, err
	}
	a := &macAH{mac: in}
	a.pool.New = func() any { return &macAHScratch{m: in.newState()} }
	return a, nil
}

// macAH is AH with a MAC (HMAC, AES-XCBC-MAC or AES-CMAC): the ICV is the
// truncated MAC of the packet with the ICV field zero, followed with ESN
// by the high half of the sequence number (RFC 4302 §3.3.3.1,
// §3.3.3.2.2).
type macAH struct {
	mac  *integrity
	pool sync.Pool // of *macAHScratch
}

type macAHScratch struct {
	m   macState
	icv [maxICVLen]byte
}

func (a *macAH) Name() string { return a.mac.name }
func (a *macAH) ICVLen() int  { return a.mac.icvLen }

// icv computes the ICV of pkt, reading the ICV field as zero.
func (a *macAH) icv(s *macAHScratch, pkt []byte, icvOff int, seqHigh uint32, esn bool) []byte {
	n := a.mac.icvLen
	s.m.reset()
	s.m.write(pkt[:icvOff])
	s.m.writeZeros(n)
	s.m.write(pkt[icvOff+n:])
	if esn {
		s.m.writeUint32(seqHigh)
	}
	s.m.sum(s.icv[:n])
	return s.icv[:n]
}

func (a *macAH) Sum(pkt []byte, icvOff int, seq uint64, esn bool) {
	if icvOff < 0 || icvOff+a.mac.icvLen > len(pkt) {
		panic(fmt.Sprintf("suite: %s: ICV field at %d does not fit in a %d-octet packet", a.mac.name, icvOff, len(pkt)))
	}
	s := a.pool.Get().(*macAHScratch)
	copy(pkt[icvOff:], a.icv(s, pkt, icvOff, uint32(seq>>32), esn))
	a.pool.Put(s)
}

func (a *macAH) Verify(pkt []byte, icvOff int, seqHigh uint32, esn bool) error {
	n := a.mac.icvLen
	if icvOff < 0 || icvOff+n > len(pkt) {
		return xe.Errorf(xe.MalformedPacket, "suite: %s: ICV field at %d does not fit in a %d-octet packet", a.mac.name, icvOff, len(pkt))
	}
	s := a.pool.Get().(*macAHScratch)
	defer a.pool.Put(s)
	if subtle.ConstantTimeCompare(a.icv(s, pkt, icvOff, seqHigh, esn), pkt[icvOff:icvOff+n]) != 1 {
		return ahMismatch(a.mac.name, pkt, icvOff)
	}
	return nil
}

// Close zeroes the key state.
func (a *macAH) Close() { a.mac.zero() }

// ahMismatch is the error for a bad AH ICV (RFC 4302 §3.4.4): the bare
// code, which allocates nothing, as a flood of forged packets must not; the
// caller holds the packet and names its SPI and sequence number.
func ahMismatch(string, []byte, int) error {
	return xe.AHDigestMismatch
}
