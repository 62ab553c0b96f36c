package ipsec

// ECN codepoints in the low two bits of the IPv4 TOS / IPv6 Traffic Class.
const (
	ecnNotECT = 0
	ecnECT1   = 1
	ecnECT0   = 2
	ecnCE     = 3
)

// outerTOS returns the outer header's TOS/Traffic Class for a tunnel whose
// inner header carries inner. The DSCP is copied (RFC 4301 §5.1.2.1).
//
// With full ECN (SP_FULL_ECN) the ECN field is copied unchanged, RFC 6040
// §4.1 normal mode. Otherwise RFC 4301 §5.1.2.1 applies, which uses RFC 3168
// §9.1.1 full functionality: copied, except that CE becomes ECT(0) so the
// outer header does not already report congestion.
func outerTOS(inner uint8, fullECN bool) uint8 {
	if fullECN || inner&3 != ecnCE {
		return inner
	}
	return inner&^3 | ecnECT0
}

// decapECN combines the outer and inner ECN fields at tunnel egress and
// returns the inner TOS to write, or ok=false when the packet must be dropped.
//
// Full ECN follows RFC 6040 §4.2's table: CE on an inner Not-ECT packet is a
// congestion mark the endpoint cannot understand, so the packet is dropped;
// ECT(1) outer upgrades an inner ECT(0). Otherwise RFC 4301 §5.1.2.1: a CE
// outer marks an ECN-capable inner packet CE, and nothing else changes.
func decapECN(outer, inner uint8, fullECN bool) (uint8, bool) {
	o, i := outer&3, inner&3
	if !fullECN {
		if o == ecnCE && i != ecnNotECT {
			return inner | ecnCE, true
		}
		return inner, true
	}
	switch {
	case i == ecnNotECT:
		return inner, o != ecnCE
	case i == ecnCE || o == ecnCE:
		return inner | ecnCE, true
	case o == ecnECT1:
		return inner&^3 | ecnECT1, true
	}
	return inner, true
}
