package main

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/sabre-ipsec/sabre/classify"
	"github.com/sabre-ipsec/sabre/spd"
)

// `sabre run` owns its TUN device, as wg-quick owns its interface: it
// gives it the -address prefixes and routes each tunnel policy's remote
// subnets (the -d selectors) into it, and when the device goes, all of it
// goes with it. -routes=false leaves routing to the operator.

// routeProtocol marks the routes sabre adds (rtm_protocol; iproute2 shows
// it as "proto 171"), so that a reload removes its own and no one else's.
const routeProtocol = netlink.RouteProtocol(0xab)

// tunSetup is the addresses and routes sabre put on its device.
type tunSetup struct {
	link   netlink.Link
	log    *slog.Logger
	addrs  []netip.Prefix
	routes map[netip.Prefix]bool // installed by us
}

// configureTUN adds the addresses to the device named name.
func configureTUN(name string, addrs []netip.Prefix, log *slog.Logger) (*tunSetup, error) {
	link, err := netlink.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("device %s: %w", name, err)
	}
	s := &tunSetup{link: link, log: log, routes: map[netip.Prefix]bool{}}
	for _, a := range addrs {
		na, err := netlink.ParseAddr(a.String())
		if err != nil {
			return nil, fmt.Errorf("-address %s: %w", a, err)
		}
		if err := netlink.AddrAdd(link, na); err != nil && !errors.Is(err, unix.EEXIST) {
			return nil, fmt.Errorf("-address %s on %s: %w", a, name, err)
		}
		s.addrs = append(s.addrs, a)
	}
	return s, nil
}

// plannedRoute is a route the tunnel policies want, with the policy that
// wants it (for the logs).
type plannedRoute struct {
	prefix netip.Prefix
	policy string
}

// routesFor returns the prefixes of the destination selectors of the
// secure tunnel-mode policies, and why it leaves others out: a selector
// of every address (it would take the default route, and with it the
// daemon's own packets to the peer), or one holding the tunnel's remote
// endpoint (the ESP packets to it would loop into the tunnel). Those the
// operator routes with -fwmark policy routing, as for transport mode.
func routesFor(policies []*spd.Policy) (routes []plannedRoute, skipped []string) {
	seen := map[netip.Prefix]bool{}
	for _, p := range policies {
		if p.Action != spd.Secure || p.Mode != spd.Tunnel {
			continue
		}
		name := p.Name
		if name == "" {
			name = fmt.Sprintf("spid %d", p.ID)
		}
		for _, pfx := range selectorPrefixes(p.Dst) {
			switch {
			case pfx.Bits() == 0:
				skipped = append(skipped, fmt.Sprintf("policy %s: -d %v is every address; route it yourself (sabre(8), -fwmark)", name, p.Dst))
				continue
			case p.TunnelRemote.IsValid() && pfx.Contains(p.TunnelRemote):
				skipped = append(skipped, fmt.Sprintf("policy %s: -d %v holds the tunnel's remote endpoint %v; route it yourself (sabre(8), -fwmark)", name, p.Dst, p.TunnelRemote))
				continue
			}
			if !seen[pfx] {
				seen[pfx] = true
				routes = append(routes, plannedRoute{pfx, name})
			}
		}
	}
	return routes, skipped
}

// selectorPrefixes covers a selector's address range with prefixes: one
// for a subnet, the fewest that cover a range exactly otherwise.
func selectorPrefixes(s classify.Selector) []netip.Prefix {
	if !s.IsValid() {
		return nil
	}
	if p, ok := s.Prefix(); ok {
		return []netip.Prefix{p}
	}
	var out []netip.Prefix
	from, to := s.From(), s.To()
	for from.IsValid() && from.Compare(to) <= 0 {
		// The largest prefix that starts at from and ends within to.
		bits := from.BitLen()
		for bits > 0 {
			p := netip.PrefixFrom(from, bits-1).Masked()
			if p.Addr() != from || lastAddr(p).Compare(to) > 0 {
				break
			}
			bits--
		}
		p := netip.PrefixFrom(from, bits)
		out = append(out, p)
		last := lastAddr(p)
		if last == to {
			break
		}
		from = last.Next()
	}
	return out
}

// lastAddr is the highest address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// syncRoutes makes the routes into the device those the policies want:
// it adds the missing ones and deletes those it added that are no longer
// wanted. A prefix someone else already routes is left alone, with a
// warning.
func (s *tunSetup) syncRoutes(policies []*spd.Policy) {
	want, skipped := routesFor(policies)
	for _, why := range skipped {
		s.log.Warn("no route added", "why", why)
	}
	wanted := map[netip.Prefix]bool{}
	for _, r := range want {
		wanted[r.prefix] = true
		if s.routes[r.prefix] {
			continue
		}
		err := netlink.RouteAdd(s.route(r.prefix))
		switch {
		case errors.Is(err, unix.EEXIST):
			s.log.Warn("route exists already: not replaced; check it leads into the tunnel", "route", r.prefix, "policy", r.policy)
		case err != nil:
			s.log.Error("route not added", "route", r.prefix, "dev", s.link.Attrs().Name, "policy", r.policy, "err", err)
		default:
			s.routes[r.prefix] = true
			s.log.Info("route added", "route", r.prefix, "dev", s.link.Attrs().Name, "policy", r.policy)
		}
	}
	for _, p := range slices.Collect(maps.Keys(s.routes)) {
		if wanted[p] {
			continue
		}
		if err := netlink.RouteDel(s.route(p)); err != nil && !errors.Is(err, unix.ESRCH) {
			s.log.Error("route not deleted", "route", p, "err", err)
			continue
		}
		delete(s.routes, p)
		s.log.Info("route deleted", "route", p, "dev", s.link.Attrs().Name)
	}
}

func (s *tunSetup) route(p netip.Prefix) *netlink.Route {
	_, dst, _ := netParseCIDR(p)
	return &netlink.Route{LinkIndex: s.link.Attrs().Index, Dst: dst, Protocol: routeProtocol, Scope: netlink.SCOPE_LINK}
}

// summary describes the setup for the start-up log.
func (s *tunSetup) summary() (addrs, routes string) {
	var a, r []string
	for _, p := range s.addrs {
		a = append(a, p.String())
	}
	for p := range s.routes {
		r = append(r, p.String())
	}
	slices.Sort(r)
	return strings.Join(a, ","), strings.Join(r, ",")
}

func netParseCIDR(p netip.Prefix) (net.IP, *net.IPNet, error) {
	return net.ParseCIDR(p.Masked().String())
}
