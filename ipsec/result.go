// Package ipsec is Sabre's packet engine: the hooks an IP stack calls for
// every packet (Encapsulate, Decapsulate, GetPolicy), ESP (RFC 4303) and AH
// (RFC 4302) in transport and tunnel mode over IPv4 and IPv6, UDP
// encapsulation (RFC 3948), TFC padding and dummy packets, and the
// management calls that put policies and manual SAs in place.
package ipsec

import "fmt"

// Result is what a hook decided for a packet, as the reference's
// IPSEC_POLICY_* values.
type Result uint8

const (
	// Bypass: IPsec does not apply; the packet is unchanged and IP
	// processing continues normally.
	Bypass Result = iota
	// Drop: the stack must drop the packet.
	Drop
	// SecureTunnel: the packet was (or, from GetPolicy, would be) secured
	// in tunnel mode. After Decapsulate the buffer holds the inner packet
	// and IP processing restarts on it.
	SecureTunnel
	// SecureTransport: the packet was secured in transport mode. After
	// Decapsulate the buffer holds the packet without its ESP/AH headers.
	SecureTransport
	// Pending: the engine kept the packet; the stack does nothing more
	// with it. Decapsulate keeps outer fragments for reassembly (the
	// datagram comes out of the call that receives its last fragment);
	// Encapsulate keeps a copy of a packet whose SAs are being negotiated
	// and sends it through Config.Output when they arrive.
	Pending
	// Consumed: the packet was for Sabre itself (a NAT-T keepalive) and is
	// finished.
	Consumed
)

func (r Result) String() string {
	switch r {
	case Bypass:
		return "BYPASS"
	case Drop:
		return "DROP"
	case SecureTunnel:
		return "SECURE_TUNNEL"
	case SecureTransport:
		return "SECURE_TRANSPORT"
	case Pending:
		return "PENDING"
	case Consumed:
		return "CONSUMED"
	}
	return fmt.Sprintf("Result(%d)", uint8(r))
}
