package suite

// nullCipher is ENCR_NULL (RFC 2410): no IV, no encryption. RFC 4303 §3.2
// forbids it without an integrity transform.
type nullCipher struct{}

func (nullCipher) name() string                      { return EncrName(EncrNull, 0) }
func (nullCipher) ivLen() int                        { return 0 }
func (nullCipher) blockLen() int                     { return 4 } // RFC 2410 §2: block size 1; ESP aligns to 4
func (nullCipher) fillIV([]byte, uint64)             {}
func (nullCipher) newScratch() any                   { return nil }
func (nullCipher) crypt(any, []byte, int, int, bool) {}
func (nullCipher) zero()                             {}
