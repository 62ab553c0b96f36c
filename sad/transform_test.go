package sad

import (
	"sync/atomic"

	"github.com/sabre-ipsec/sabre/suite"
)

// fakeESP is an ESP transform that does no cryptography; it records Close.
type fakeESP struct{ closed atomic.Bool }

var _ suite.ESP = (*fakeESP)(nil)

func (*fakeESP) Name() string                          { return "fake-esp" }
func (*fakeESP) IVLen() int                            { return 8 }
func (*fakeESP) BlockLen() int                         { return 4 }
func (*fakeESP) ICVLen() int                           { return 16 }
func (*fakeESP) FillIV(iv []byte, seq uint64)          {}
func (*fakeESP) Seal(esp []byte, seq uint64, esn bool) {}
func (*fakeESP) Open(esp []byte, seqHigh uint32, esn bool) error {
	return nil
}
func (f *fakeESP) Close() { f.closed.Store(true) }

// fakeAH is an AH transform that does no cryptography; it records Close.
type fakeAH struct{ closed atomic.Bool }

var _ suite.AH = (*fakeAH)(nil)

func (*fakeAH) Name() string                                                  { return "fake-ah" }
func (*fakeAH) ICVLen() int                                                   { return 12 }
func (*fakeAH) Sum(pkt []byte, icvOff int, seq uint64, esn bool)              {}
func (*fakeAH) Verify(pkt []byte, icvOff int, seqHigh uint32, esn bool) error { return nil }
func (f *fakeAH) Close()                                                      { f.closed.Store(true) }
