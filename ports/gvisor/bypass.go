package gvisor

import (
	"github.com/sabre-ipsec/sabre/classify"
	"github.com/sabre-ipsec/sabre/spd"
)

// NDBypassName names the policy InstallDefaultBypass adds.
const NDBypassName = "ipv6-nd-bypass"

// IPv6 neighbour discovery messages (RFC 4861 §4): Router Solicitation,
// Router Advertisement, Neighbor Solicitation, Neighbor Advertisement,
// Redirect.
const (
	icmpv6RouterSolicitation = 133
	icmpv6Redirect           = 137
)

// InstallDefaultBypass adds to db the policies a host needs before any
// SECURE one: ICMPv6 neighbour discovery (types 133 to 137, RFC 4861)
// bypasses IPsec in both directions, at the highest priority, between any
// addresses (link-local, multicast and the unspecified address of duplicate
// address detection included). Without it an IPv6 host cannot resolve its
// peer's link address, since the engine applies the SPD to every packet.
func InstallDefaultBypass(db *spd.DB) error {
	// For ICMPv6 the source selector's ports are the ICMP type and the
	// destination's the code (classify.Rule).
	src, err := classify.AnyIPv6().WithPorts(icmpv6RouterSolicitation, icmpv6Redirect)
	if err != nil {
		return err
	}
	_, err = db.Add(spd.Policy{
		Name:     NDBypassName,
		Action:   spd.Bypass,
		Priority: spd.PriorityHighest,
		Proto:    classify.ProtoICMPv6,
		Src:      src,
		Dst:      classify.AnyIPv6(),
	})
	return err
}
