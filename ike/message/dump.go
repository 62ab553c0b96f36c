package message

import (
	"encoding/hex"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"golang.org/x/crypto/cryptobyte"
)

// Dump writes a field-by-field decoding of the IKE message b to w, one line
// per field: offset, octets in hex and what they mean, in the manner of the
// reference design's packet decoder (§4.5):
//
//	0010 21                Next Payload - Security Association
//
// It decodes as far as it can and never fails: malformed or truncated parts
// are shown as such. It prints only what is on the wire; the SK payload's
// content stays encrypted (DumpPayloads decodes it once decrypted).
func Dump(w io.Writer, b []byte) {
	d := &dumper{w: w, s: b}
	next, _ := d.header()
	if !d.stopped {
		d.chain(next)
	}
}

// DumpPayloads is Dump for a chain of payloads starting with type first,
// such as the decrypted content of an SK payload; offsets count from the
// start of b.
func DumpPayloads(w io.Writer, first PayloadType, b []byte) {
	d := &dumper{w: w, s: b}
	d.chain(first)
}

// dumper walks octets with a cryptobyte.String, printing each field it
// reads at its offset.
type dumper struct {
	w       io.Writer
	s       cryptobyte.String
	pos     int  // offset of s[0] from the start of the dump
	stopped bool // a field was missing; print nothing more at this level
	indent  int
}

const hexPerLine = 16

func (d *dumper) line(off int, v []byte, desc string) {
	pad := strings.Repeat("  ", d.indent)
	for first := true; first || len(v) > 0; first = false {
		n := min(len(v), hexPerLine)
		h := make([]string, n)
		for i := range n {
			h[i] = hex.EncodeToString(v[i : i+1])
		}
		if first {
			fmt.Fprintf(d.w, "%04x %-47s %s%s\n", off, strings.Join(h, " "), pad, desc)
		} else {
			fmt.Fprintf(d.w, "%04x %s\n", off, strings.Join(h, " "))
		}
		v, off = v[n:], off+n
	}
}

// bytes reads n octets and prints them with desc(v).
func (d *dumper) bytes(n int, desc func(v []byte) string) ([]byte, bool) {
	if d.stopped {
		return nil, false
	}
	var v []byte
	if n < 0 || !d.s.ReadBytes(&v, n) {
		d.truncated(fmt.Sprintf("truncated: %d octets left, field needs %d", len(d.s), n))
		return nil, false
	}
	d.line(d.pos, v, desc(v))
	d.pos += n
	return v, true
}

func (d *dumper) truncated(why string) {
	d.stopped = true
	if len(d.s) > 0 {
		d.line(d.pos, d.s, "?? "+why)
	} else {
		d.line(d.pos, nil, "?? "+why)
	}
	d.pos += len(d.s)
	d.s = nil
}

func (d *dumper) u8(desc func(uint8) string) (uint8, bool) {
	v, ok := d.bytes(1, func(v []byte) string { return desc(v[0]) })
	if !ok {
		return 0, false
	}
	return v[0], true
}

func (d *dumper) u16(desc func(uint16) string) (uint16, bool) {
	v, ok := d.bytes(2, func(v []byte) string { return desc(be16(v)) })
	if !ok {
		return 0, false
	}
	return be16(v), true
}

func (d *dumper) u32(desc func(uint32) string) (uint32, bool) {
	v, ok := d.bytes(4, func(v []byte) string { return desc(be32(v)) })
	if !ok {
		return 0, false
	}
	return be32(v), true
}

func be16(v []byte) uint16 {
	s := cryptobyte.String(v)
	var x uint16
	s.ReadUint16(&x)
	return x
}

func be32(v []byte) uint32 {
	s := cryptobyte.String(v)
	var x uint32
	s.ReadUint32(&x)
	return x
}

func (d *dumper) reserved(n int) {
	d.bytes(n, func([]byte) string { return "Reserved" })
}

// rest prints whatever is left as one field.
func (d *dumper) rest(desc func(v []byte) string) {
	if !d.stopped {
		d.bytes(len(d.s), desc)
	}
}

// sub takes n octets as a nested structure, printed by the caller through
// the returned dumper.
func (d *dumper) sub(n int) (*dumper, bool) {
	if d.stopped {
		return nil, false
	}
	var v []byte
	if n < 0 || !d.s.ReadBytes(&v, n) {
		d.truncated(fmt.Sprintf("truncated: length says %d octets, %d left", n, len(d.s)))
		return nil, false
	}
	c := &dumper{w: d.w, s: v, pos: d.pos, indent: d.indent}
	d.pos += n
	return c, true
}

// leftover prints octets that no field accounts for.
func (d *dumper) leftover() {
	if !d.stopped && len(d.s) > 0 {
		d.truncated(fmt.Sprintf("%d octets beyond the structure", len(d.s)))
	}
}

func octets(v []byte) string { return fmt.Sprintf("%d octets", len(v)) }

func constant(s string) func([]byte) string { return func([]byte) string { return s } }

func (d *dumper) header() (PayloadType, bool) {
	d.bytes(8, constant("Initiator SPI"))
	d.bytes(8, constant("Responder SPI"))
	next, _ := d.u8(func(v uint8) string { return "Next Payload - " + PayloadType(v).Description() })
	d.u8(func(v uint8) string { return fmt.Sprintf("Version - %d.%d", v>>4, v&0xf) })
	d.u8(func(v uint8) string { return "Exchange Type - " + ExchangeType(v).String() })
	d.u8(func(v uint8) string { return "Flags - " + Flags(v).String() })
	d.u32(func(v uint32) string { return fmt.Sprintf("Message ID - %d", v) })
	d.u32(func(v uint32) string { return fmt.Sprintf("Length - %d", v) })
	return PayloadType(next), !d.stopped
}

// genericHeader prints a structure header of the readSub shape and
// returns a dumper over its body.
func (d *dumper) genericHeader(first, second func(uint8) string, length string) (b0 uint8, body *dumper, ok bool) {
	b0, _ = d.u8(first)
	d.u8(second)
	n, ok := d.u16(func(v uint16) string { return fmt.Sprintf("%s - %d", length, v) })
	if !ok {
		return 0, nil, false
	}
	if n < 4 {
		d.truncated(fmt.Sprintf("%s %d shorter than the header", length, n))
		return 0, nil, false
	}
	body, ok = d.sub(int(n) - 4)
	return b0, body, ok
}

func (d *dumper) chain(t PayloadType) {
	for t != PayloadNone && !d.stopped {
		fmt.Fprintf(d.w, "%04x %-47s %s# %s payload\n", d.pos, "", strings.Repeat("  ", d.indent), t.Description())
		next, body, ok := d.genericHeader(
			func(v uint8) string {
				if t == PayloadSK || t == PayloadSKF {
					return "Next Payload - " + PayloadType(v).Description() + " (first inner payload)"
				}
				return "Next Payload - " + PayloadType(v).Description()
			},
			func(v uint8) string {
				if v&criticalBit != 0 {
					return "Critical"
				}
				return "Not critical"
			},
			"Payload Length")
		if !ok {
			return
		}
		body.indent++
		body.payload(t)
		body.leftover()
		if t == PayloadSK || t == PayloadSKF {
			break
		}
		t = PayloadType(next)
	}
	d.leftover()
}

func (d *dumper) payload(t PayloadType) {
	switch t {
	case PayloadSA:
		d.sa()
	case PayloadKE:
		d.u16(func(v uint16) string { return fmt.Sprintf("DH Group - %v (%d)", GroupID(v), v) })
		d.reserved(2)
		d.rest(func(v []byte) string { return "Key Exchange Data - " + octets(v) })
	case PayloadIDi, PayloadIDr:
		typ, _ := d.u8(func(v uint8) string { return "ID Type - " + IDType(v).String() })
		d.reserved(3)
		d.rest(func(v []byte) string {
			id := ID{Type: IDType(typ), Data: v}
			switch id.Type {
			case IDFQDN, IDRFC822Addr:
				return fmt.Sprintf("Identification Data - %q", v)
			}
			return "Identification Data - " + id.String()
		})
	case PayloadCERT:
		d.u8(func(v uint8) string { return "Cert Encoding - " + CertEncoding(v).String() })
		d.rest(func(v []byte) string { return "Certificate Data - " + octets(v) })
	case PayloadCERTREQ:
		d.u8(func(v uint8) string { return "Cert Encoding - " + CertEncoding(v).String() })
		d.rest(func(v []byte) string { return "Certification Authority - " + octets(v) })
	case PayloadAUTH:
		d.u8(func(v uint8) string { return "Auth Method - " + AuthMethod(v).String() })
		d.reserved(3)
		d.rest(func(v []byte) string { return "Authentication Data - " + octets(v) })
	case PayloadNonce:
		d.rest(func(v []byte) string { return "Nonce Data - " + octets(v) })
	case PayloadNotify:
		d.notify()
	case PayloadDelete:
		d.u8(func(v uint8) string { return "Protocol ID - " + ProtocolID(v).String() })
		size, _ := d.u8(func(v uint8) string { return fmt.Sprintf("SPI Size - %d", v) })
		n, ok := d.u16(func(v uint16) string { return fmt.Sprintf("Number of SPIs - %d", v) })
		for i := 0; ok && size > 0 && i < int(n); i++ {
			_, ok = d.bytes(int(size), func(v []byte) string { return fmt.Sprintf("SPI - %x", v) })
		}
	case PayloadVendorID:
		d.rest(func(v []byte) string { return "Vendor ID - " + octets(v) })
	case PayloadTSi, PayloadTSr:
		d.ts()
	case PayloadSK:
		d.rest(func(v []byte) string { return "Encrypted Data (IV, ciphertext, ICV) - " + octets(v) })
	case PayloadSKF:
		d.u16(func(v uint16) string { return fmt.Sprintf("Fragment Number - %d", v) })
		d.u16(func(v uint16) string { return fmt.Sprintf("Total Fragments - %d", v) })
		d.rest(func(v []byte) string { return "Encrypted Data (IV, ciphertext, ICV) - " + octets(v) })
	case PayloadCP:
		d.cp()
	case PayloadEAP:
		d.u8(func(v uint8) string {
			return "Code - " + map[uint8]string{EAPRequest: "Request", EAPResponse: "Response",
				EAPSuccess: "Success", EAPFailure: "Failure"}[v]
		})
		d.u8(func(v uint8) string { return fmt.Sprintf("Identifier - %d", v) })
		d.u16(func(v uint16) string { return fmt.Sprintf("Length - %d", v) })
		if len(d.s) > 0 {
			d.u8(func(v uint8) string { return fmt.Sprintf("Type - %d", v) })
			d.rest(func(v []byte) string { return "Type Data - " + octets(v) })
		}
	default:
		d.rest(func(v []byte) string { return "Payload Data - " + octets(v) })
	}
}

func (d *dumper) sa() {
	for len(d.s) > 0 && !d.stopped {
		_, prop, ok := d.genericHeader(
			func(v uint8) string { return "Last Substructure - " + lastName(v, moreProposals, "proposals") },
			func(uint8) string { return "Reserved" }, "Proposal Length")
		if !ok {
			return
		}
		prop.indent++
		prop.u8(func(v uint8) string { return fmt.Sprintf("Proposal Number - %d", v) })
		prop.u8(func(v uint8) string { return "Protocol ID - " + ProtocolID(v).String() })
		size, _ := prop.u8(func(v uint8) string { return fmt.Sprintf("SPI Size - %d", v) })
		prop.u8(func(v uint8) string { return fmt.Sprintf("Number of Transforms - %d", v) })
		if size > 0 {
			prop.bytes(int(size), func(v []byte) string { return fmt.Sprintf("SPI - %x", v) })
		}
		for len(prop.s) > 0 && !prop.stopped {
			_, tr, ok := prop.genericHeader(
				func(v uint8) string { return "Last Substructure - " + lastName(v, moreTrans, "transforms") },
				func(uint8) string { return "Reserved" }, "Transform Length")
			if !ok {
				break
			}
			tr.indent++
			typ, _ := tr.u8(func(v uint8) string { return "Transform Type - " + TransformType(v).String() })
			tr.reserved(1)
			tr.u16(func(v uint16) string {
				return "Transform ID - " + Transform{Type: TransformType(typ), ID: v}.IDString()
			})
			for len(tr.s) > 0 && !tr.stopped {
				tr.attribute()
			}
			tr.leftover()
		}
		prop.leftover()
	}
}

func lastName(v, more uint8, what string) string {
	switch v {
	case lastSubstruc:
		return "last"
	case more:
		return "more " + what
	}
	return fmt.Sprintf("%d (invalid)", v)
}

// attribute prints one transform attribute, TV or TLV, as one field.
func (d *dumper) attribute() {
	peek := d.s
	var typ, l uint16
	if !peek.ReadUint16(&typ) || !peek.ReadUint16(&l) {
		d.truncated("attribute truncated")
		return
	}
	at := AttributeType(typ &^ 0x8000)
	if typ&0x8000 != 0 {
		d.bytes(4, func([]byte) string { return fmt.Sprintf("ATTR: %v - %d", at, l) })
		return
	}
	d.bytes(4+int(l), func(v []byte) string { return fmt.Sprintf("ATTR: %v (TLV) - %x", at, v[4:]) })
}

func (d *dumper) notify() {
	d.u8(func(v uint8) string { return "Protocol ID - " + ProtocolID(v).String() })
	size, _ := d.u8(func(v uint8) string { return fmt.Sprintf("SPI Size - %d", v) })
	t, _ := d.u16(func(v uint16) string { return "Notify Message Type - " + NotifyType(v).String() })
	if size > 0 {
		d.bytes(int(size), func(v []byte) string { return fmt.Sprintf("SPI - %x", v) })
	}
	if len(d.s) == 0 {
		return
	}
	d.rest(func(v []byte) string {
		n := Notify{Type: NotifyType(t), Data: v}
		if g, ok := n.InvalidKEGroup(); ok {
			return fmt.Sprintf("Notification Data - %v (%d)", g, uint16(g))
		}
		if hs, ok := n.HashAlgorithms(); ok {
			s := make([]string, len(hs))
			for i, h := range hs {
				s[i] = h.String()
			}
			return "Notification Data - " + strings.Join(s, " ")
		}
		if n.Type == UnsupportedCriticalPayload && len(v) == 1 {
			return "Notification Data - " + PayloadType(v[0]).Description()
		}
		return "Notification Data - " + octets(v)
	})
}

func (d *dumper) ts() {
	d.u8(func(v uint8) string { return fmt.Sprintf("Number of TSs - %d", v) })
	d.reserved(3)
	for len(d.s) > 0 && !d.stopped {
		typ, sel, ok := d.genericHeader(
			func(v uint8) string { return "TS Type - " + TSType(v).String() },
			func(v uint8) string { return fmt.Sprintf("IP Protocol ID - %d", v) }, "Selector Length")
		if !ok {
			return
		}
		sel.indent++
		alen := 0
		switch TSType(typ) {
		case TSIPv4AddrRange:
			alen = 4
		case TSIPv6AddrRange:
			alen = 16
		default:
			sel.rest(func(v []byte) string { return "Selector Data - " + octets(v) })
			continue
		}
		sel.u16(func(v uint16) string { return fmt.Sprintf("Start Port - %d", v) })
		sel.u16(func(v uint16) string { return fmt.Sprintf("End Port - %d", v) })
		sel.bytes(alen, func(v []byte) string { return "Starting Address - " + addrString(v) })
		sel.bytes(alen, func(v []byte) string { return "Ending Address - " + addrString(v) })
		sel.leftover()
	}
}

func addrString(v []byte) string {
	a, _ := netip.AddrFromSlice(v)
	return a.String()
}

func (d *dumper) cp() {
	d.u8(func(v uint8) string { return "CFG Type - " + CFGType(v).String() })
	d.reserved(3)
	for len(d.s) > 0 && !d.stopped {
		peek := d.s
		var typ, l uint16
		if !peek.ReadUint16(&typ) || !peek.ReadUint16(&l) {
			d.truncated("attribute truncated")
			return
		}
		d.bytes(4+int(l), func(v []byte) string {
			a := CPAttribute{Type: CPAttributeType(typ &^ 0x8000), Value: v[4:]}
			val := octets(a.Value)
			if len(a.Value) == 0 {
				val = "requested"
			} else if p, ok := a.Prefix(); ok {
				val = p.String()
			} else if addr, ok := a.Addr(); ok {
				val = addr.String()
			} else if a.Type == ApplicationVersion {
				val = fmt.Sprintf("%q", a.Value)
			}
			return fmt.Sprintf("ATTR: %v - %s", a.Type, val)
		})
	}
}
