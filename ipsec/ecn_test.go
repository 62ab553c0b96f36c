package ipsec

import "testing"

// TestDecapECNRFC6040 checks every cell of RFC 6040 §4.2 Figure 4.
func TestDecapECNRFC6040(t *testing.T) {
	const drop = 0xff
	// rows: inner Not-ECT, ECT(0), ECT(1), CE; columns: outer Not-ECT, ECT(0), ECT(1), CE.
	table := [4][4]uint8{
		ecnNotECT: {ecnNotECT: ecnNotECT, ecnECT0: ecnNotECT, ecnECT1: ecnNotECT, ecnCE: drop},
		ecnECT0:   {ecnNotECT: ecnECT0, ecnECT0: ecnECT0, ecnECT1: ecnECT1, ecnCE: ecnCE},
		ecnECT1:   {ecnNotECT: ecnECT1, ecnECT0: ecnECT1, ecnECT1: ecnECT1, ecnCE: ecnCE},
		ecnCE:     {ecnNotECT: ecnCE, ecnECT0: ecnCE, ecnECT1: ecnCE, ecnCE: ecnCE},
	}
	for inner := uint8(0); inner < 4; inner++ {
		for outer := uint8(0); outer < 4; outer++ {
			got, ok := decapECN(0xb8|outer, 0xb8|inner, true)
			want := table[inner][outer]
			if want == drop {
				if ok {
					t.Errorf("inner %d outer %d: not dropped", inner, outer)
				}
				continue
			}
			if !ok || got != 0xb8|want {
				t.Errorf("inner %d outer %d: got %#x ok=%v, want %#x", inner, outer, got, ok, 0xb8|want)
			}
		}
	}
}

func TestECNRFC4301(t *testing.T) {
	if got := outerTOS(0xb8|ecnCE, false); got != 0xb8|ecnECT0 {
		t.Errorf("RFC 4301 encap of CE = %#x, want ECT(0) with DSCP kept", got)
	}
	if got := outerTOS(0xb8|ecnCE, true); got != 0xb8|ecnCE {
		t.Errorf("RFC 6040 encap of CE = %#x, want CE", got)
	}
	if got, _ := decapECN(ecnCE, ecnECT1, false); got != ecnCE {
		t.Errorf("RFC 4301 decap CE over ECT(1) = %d", got)
	}
	if got, ok := decapECN(ecnCE, ecnNotECT, false); got != ecnNotECT || !ok {
		t.Errorf("RFC 4301 decap CE over Not-ECT = %d, %v", got, ok)
	}
}
