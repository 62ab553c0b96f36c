package message

import "golang.org/x/crypto/cryptobyte"

// VendorID is the Vendor ID payload V (RFC 7296 §3.12). Unfamiliar ones
// are ignored.
type VendorID struct {
	Data []byte
}

// PayloadType returns PayloadVendorID.
func (p *VendorID) PayloadType() PayloadType { return PayloadVendorID }

func parseVendorID(s cryptobyte.String) (*VendorID, error) {
	return &VendorID{Data: rest(&s)}, nil
}

func (p *VendorID) validate() error { return nil }

func (p *VendorID) marshal(b *cryptobyte.Builder) { b.AddBytes(p.Data) }
