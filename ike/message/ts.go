package message

import (
	"fmt"
	"net/netip"
	"strings"

	"golang.org/x/crypto/cryptobyte"
)

// TSType is a traffic selector type (RFC 7296 §3.13.1, IANA "IKEv2 Traffic
// Selector Types").
type TSType uint8

// Traffic selector types.
const (
	TSIPv4AddrRange TSType = 7  // TS_IPV4_ADDR_RANGE
	TSIPv6AddrRange TSType = 8  // TS_IPV6_ADDR_RANGE
	TSFCAddrRange   TSType = 9  // TS_FC_ADDR_RANGE, RFC 4595
	TSSecLabel      TSType = 10 // TS_SECLABEL, RFC 9478
)

// String returns the IANA name of t, such as "TS_IPV4_ADDR_RANGE".
func (t TSType) String() string {
	switch t {
	case TSIPv4AddrRange:
		return "TS_IPV4_ADDR_RANGE"
	case TSIPv6AddrRange:
		return "TS_IPV6_ADDR_RANGE"
	case TSFCAddrRange:
		return "TS_FC_ADDR_RANGE"
	case TSSecLabel:
		return "TS_SECLABEL"
	}
	return fmt.Sprintf("TS_%d", uint8(t))
}

// Selector lengths of the address range types, header included.
const (
	tsIPv4Len = 16
	tsIPv6Len = 40
)

// OPAQUE ports (RFC 7296 §3.13.1): start 65535 and end 0.
const (
	OpaqueStartPort = 65535
	OpaqueEndPort   = 0
)

// TrafficSelector is one traffic selector (RFC 7296 §3.13.1). For the
// address range types Start and End bound the addresses and StartPort and
// EndPort the ports (0-65535 for any); for other types Data holds the
// selector after its 4-octet header, which this package does not read.
type TrafficSelector struct {
	Type               TSType
	IPProtocol         uint8 // 0: any
	StartPort, EndPort uint16
	Start, End         netip.Addr
	Data               []byte
}

// String returns ts as "10.0.0.0-10.0.0.255 proto 6 port 80-80".
func (ts TrafficSelector) String() string {
	switch ts.Type {
	case TSIPv4AddrRange, TSIPv6AddrRange:
		return fmt.Sprintf("%v-%v proto %d port %d-%d", ts.Start, ts.End, ts.IPProtocol, ts.StartPort, ts.EndPort)
	}
	return fmt.Sprintf("%v proto %d %x", ts.Type, ts.IPProtocol, ts.Data)
}

// TS is a Traffic Selector payload, TSi or TSr (RFC 7296 §3.13).
type TS struct {
	Responder bool // TSr rather than TSi
	Selectors []TrafficSelector
}

// PayloadType returns PayloadTSi, or PayloadTSr for the responder's selectors.
func (p *TS) PayloadType() PayloadType {
	if p.Responder {
		return PayloadTSr
	}
	return PayloadTSi
}

// String returns p as "TSi" or "TSr" and its selectors.
func (p *TS) String() string {
	s := make([]string, len(p.Selectors))
	for i, ts := range p.Selectors {
		s[i] = ts.String()
	}
	return p.PayloadType().String() + " " + strings.Join(s, ", ")
}

func parseTS(body cryptobyte.String, responder bool) (*TS, error) {
	s := body
	p := TS{Responder: responder}
	var count uint8
	if !s.ReadUint8(&count) || !s.Skip(3) {
		return nil, syntaxError("truncated (%d octets)", len(body))
	}
	for !s.Empty() {
		n := len(p.Selectors) + 1
		var typ, proto uint8
		var sel cryptobyte.String
		if err := readSub(&s, fmt.Sprintf("selector %d", n), &typ, &proto, &sel); err != nil {
			return nil, err
		}
		ts := TrafficSelector{Type: TSType(typ), IPProtocol: proto}
		switch ts.Type {
		case TSIPv4AddrRange, TSIPv6AddrRange:
			alen, want := 4, tsIPv4Len
			if ts.Type == TSIPv6AddrRange {
				alen, want = 16, tsIPv6Len
			}
			if len(sel)+4 != want {
				return nil, syntaxError("selector %d: %v of length %d, want %d", n, ts.Type, len(sel)+4, want)
			}
			var start, end []byte
			if !sel.ReadUint16(&ts.StartPort) || !sel.ReadUint16(&ts.EndPort) ||
				!sel.ReadBytes(&start, alen) || !sel.ReadBytes(&end, alen) {
				return nil, syntaxError("selector %d: truncated", n)
			}
			ts.Start, _ = netip.AddrFromSlice(start)
			ts.End, _ = netip.AddrFromSlice(end)
		default:
			// Other types are kept whole for the IKE SA to judge.
			ts.Data = rest(&sel)
		}
		p.Selectors = append(p.Selectors, ts)
	}
	// RFC 7296 §3.13: Number of TSs must match the selectors present.
	if int(count) != len(p.Selectors) {
		return nil, syntaxError("Number of TSs %d but %d selectors", count, len(p.Selectors))
	}
	return &p, p.validate()
}

func (p *TS) validate() error {
	if len(p.Selectors) == 0 {
		return syntaxError("no traffic selector")
	}
	if len(p.Selectors) > 255 {
		return syntaxError("%d traffic selectors, at most 255", len(p.Selectors))
	}
	for i, ts := range p.Selectors {
		if err := ts.validate(); err != nil {
			return within(err, "selector %d", i+1)
		}
	}
	return nil
}

func (ts *TrafficSelector) validate() error {
	switch ts.Type {
	case TSIPv4AddrRange, TSIPv6AddrRange:
		if ts.Type == TSIPv4AddrRange && (!ts.Start.Is4() || !ts.End.Is4()) ||
			ts.Type == TSIPv6AddrRange && (!ts.Start.Is6() || !ts.End.Is6()) {
			return syntaxError("%v with addresses %v and %v", ts.Type, ts.Start, ts.End)
		}
		if ts.Start.Zone() != "" || ts.End.Zone() != "" {
			return syntaxError("%v with zoned addresses %v and %v", ts.Type, ts.Start, ts.End)
		}
		if ts.End.Less(ts.Start) {
			return syntaxError("start address %v after end address %v", ts.Start, ts.End)
		}
		// RFC 7296 §3.13.1: start > end only as OPAQUE (65535, 0).
		if ts.StartPort > ts.EndPort && (ts.StartPort != OpaqueStartPort || ts.EndPort != OpaqueEndPort) {
			return syntaxError("start port %d after end port %d", ts.StartPort, ts.EndPort)
		}
		if len(ts.Data) != 0 {
			return syntaxError("%v with extra data", ts.Type)
		}
	default:
		if len(ts.Data) > 0xffff-4 {
			return syntaxError("%v of %d octets", ts.Type, len(ts.Data))
		}
	}
	return nil
}

func (p *TS) marshal(b *cryptobyte.Builder) {
	b.AddUint8(uint8(len(p.Selectors)))
	b.AddBytes([]byte{0, 0, 0})
	for _, ts := range p.Selectors {
		addSub(b, "traffic selector", uint8(ts.Type), ts.IPProtocol, func(b *cryptobyte.Builder) {
			switch ts.Type {
			case TSIPv4AddrRange, TSIPv6AddrRange:
				b.AddUint16(ts.StartPort)
				b.AddUint16(ts.EndPort)
				b.AddBytes(ts.Start.AsSlice())
				b.AddBytes(ts.End.AsSlice())
			default:
				b.AddBytes(ts.Data)
			}
		})
	}
}
