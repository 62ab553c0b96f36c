package message

import (
	"fmt"
	"math/bits"
	"net/netip"

	"golang.org/x/crypto/cryptobyte"
)

// CFGType is the type of a Configuration payload (RFC 7296 §3.15).
type CFGType uint8

// Configuration payload types.
const (
	CFGRequest CFGType = 1
	CFGReply   CFGType = 2
	CFGSet     CFGType = 3
	CFGAck     CFGType = 4
)

// String returns the RFC 7296 name of t, such as "CFG_REQUEST".
func (t CFGType) String() string {
	switch t {
	case CFGRequest:
		return "CFG_REQUEST"
	case CFGReply:
		return "CFG_REPLY"
	case CFGSet:
		return "CFG_SET"
	case CFGAck:
		return "CFG_ACK"
	}
	return fmt.Sprintf("CFG_%d", uint8(t))
}

// CPAttributeType is a configuration attribute type (RFC 7296 §3.15.1,
// IANA "IKEv2 Configuration Payload Attribute Types").
type CPAttributeType uint16

// Configuration attribute types.
const (
	InternalIP4Address  CPAttributeType = 1
	InternalIP4Netmask  CPAttributeType = 2
	InternalIP4DNS      CPAttributeType = 3
	InternalIP4NBNS     CPAttributeType = 4
	InternalIP4DHCP     CPAttributeType = 6
	ApplicationVersion  CPAttributeType = 7
	InternalIP6Address  CPAttributeType = 8
	InternalIP6DNS      CPAttributeType = 10
	InternalIP6DHCP     CPAttributeType = 12
	InternalIP4Subnet   CPAttributeType = 13
	SupportedAttributes CPAttributeType = 14
	InternalIP6Subnet   CPAttributeType = 15
	InternalDNSDomain   CPAttributeType = 25 // RFC 8598
)

var cpNames = map[CPAttributeType]string{
	InternalIP4Address: "INTERNAL_IP4_ADDRESS", InternalIP4Netmask: "INTERNAL_IP4_NETMASK",
	InternalIP4DNS: "INTERNAL_IP4_DNS", InternalIP4NBNS: "INTERNAL_IP4_NBNS",
	InternalIP4DHCP: "INTERNAL_IP4_DHCP", ApplicationVersion: "APPLICATION_VERSION",
	InternalIP6Address: "INTERNAL_IP6_ADDRESS", InternalIP6DNS: "INTERNAL_IP6_DNS",
	InternalIP6DHCP: "INTERNAL_IP6_DHCP", InternalIP4Subnet: "INTERNAL_IP4_SUBNET",
	SupportedAttributes: "SUPPORTED_ATTRIBUTES", InternalIP6Subnet: "INTERNAL_IP6_SUBNET",
	InternalDNSDomain: "INTERNAL_DNS_DOMAIN",
}

// String returns the IANA name of t, such as "INTERNAL_IP4_ADDRESS".
func (t CPAttributeType) String() string {
	if n, ok := cpNames[t]; ok {
		return n
	}
	return fmt.Sprintf("CP_ATTRIBUTE_%d", uint16(t))
}

// cpValueLen lists the value lengths RFC 7296 §3.15.1 allows: empty (a
// request) or the one given.
var cpValueLen = map[CPAttributeType]int{
	InternalIP4Address: 4, InternalIP4Netmask: 4, InternalIP4DNS: 4, InternalIP4NBNS: 4,
	InternalIP4DHCP: 4, InternalIP6Address: 17, InternalIP6DNS: 16, InternalIP6DHCP: 16,
	InternalIP4Subnet: 8, InternalIP6Subnet: 17,
}

// CPAttribute is one configuration attribute; an empty Value asks for the
// attribute in a CFG_REQUEST.
type CPAttribute struct {
	Type  CPAttributeType
	Value []byte
}

// Addr returns the address of an INTERNAL_IP4_ADDRESS, _NETMASK, _DNS,
// _NBNS or _DHCP attribute, of INTERNAL_IP6_DNS or _DHCP, or the address
// part of INTERNAL_IP6_ADDRESS.
func (a CPAttribute) Addr() (netip.Addr, bool) {
	switch a.Type {
	case InternalIP4Address, InternalIP4Netmask, InternalIP4DNS, InternalIP4NBNS, InternalIP4DHCP,
		InternalIP6DNS, InternalIP6DHCP:
		return netip.AddrFromSlice(a.Value)
	case InternalIP6Address:
		if p, ok := a.Prefix(); ok {
			return p.Addr(), true
		}
	}
	return netip.Addr{}, false
}

// Prefix returns the prefix of an INTERNAL_IP4_SUBNET (address and
// netmask), INTERNAL_IP6_SUBNET or INTERNAL_IP6_ADDRESS (address and
// prefix length) attribute.
func (a CPAttribute) Prefix() (netip.Prefix, bool) {
	s := cryptobyte.String(a.Value)
	switch a.Type {
	case InternalIP4Subnet:
		var addr []byte
		var mask uint32
		if !s.ReadBytes(&addr, 4) || !s.ReadUint32(&mask) || !s.Empty() {
			return netip.Prefix{}, false
		}
		ones := bits.LeadingZeros32(^mask)
		if mask<<ones != 0 {
			return netip.Prefix{}, false // not a contiguous netmask
		}
		a, _ := netip.AddrFromSlice(addr)
		return netip.PrefixFrom(a, ones), true
	case InternalIP6Subnet, InternalIP6Address:
		var addr []byte
		var bits uint8
		if !s.ReadBytes(&addr, 16) || !s.ReadUint8(&bits) || !s.Empty() {
			return netip.Prefix{}, false
		}
		a, _ := netip.AddrFromSlice(addr)
		p := netip.PrefixFrom(a, int(bits))
		return p, p.IsValid()
	}
	return netip.Prefix{}, false
}

// CP is the Configuration payload (RFC 7296 §3.15).
type CP struct {
	Type       CFGType
	Attributes []CPAttribute
}

// PayloadType returns PayloadCP.
func (p *CP) PayloadType() PayloadType { return PayloadCP }

func parseCP(body cryptobyte.String) (*CP, error) {
	s := body
	var p CP
	var t uint8
	if !s.ReadUint8(&t) || !s.Skip(3) {
		return nil, syntaxError("truncated (%d octets)", len(body))
	}
	p.Type = CFGType(t)
	for !s.Empty() {
		var typ uint16
		var value cryptobyte.String
		if !s.ReadUint16(&typ) || !s.ReadUint16LengthPrefixed(&value) {
			return nil, syntaxError("attribute %d truncated", len(p.Attributes)+1)
		}
		// The R bit is ignored on receipt (RFC 7296 §3.15.1).
		p.Attributes = append(p.Attributes, CPAttribute{Type: CPAttributeType(typ &^ 0x8000), Value: nonEmpty(value)})
	}
	return &p, p.validate()
}

func (p *CP) validate() error {
	for i, a := range p.Attributes {
		if a.Type > 0x7fff {
			return syntaxError("attribute %d: type %d does not fit 15 bits", i+1, uint16(a.Type))
		}
		if len(a.Value) > 0xffff {
			return syntaxError("attribute %d (%v): %d octets", i+1, a.Type, len(a.Value))
		}
		if l, ok := cpValueLen[a.Type]; ok && len(a.Value) != 0 && len(a.Value) != l {
			return syntaxError("attribute %d (%v): %d octets, want 0 or %d", i+1, a.Type, len(a.Value), l)
		}
		if a.Type == SupportedAttributes && len(a.Value)%2 != 0 {
			return syntaxError("attribute %d (%v): odd length %d", i+1, a.Type, len(a.Value))
		}
	}
	return nil
}

func (p *CP) marshal(b *cryptobyte.Builder) {
	b.AddUint8(uint8(p.Type))
	b.AddBytes([]byte{0, 0, 0})
	for _, a := range p.Attributes {
		b.AddUint16(uint16(a.Type))
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(a.Value) })
	}
}
