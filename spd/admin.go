package spd

import (
	"net/netip"

	"github.com/sabre-ipsec/sabre/classify"
	"github.com/sabre-ipsec/sabre/xe"
)

// AddBypassPolicy adds a policy that lets traffic between the selectors
// src and dst (in the reference's syntax) bypass IPsec: the reference's
// IPSecAdminAddBypassPolicy. proto 0 means any protocol.
func (db *DB) AddBypassPolicy(src, dst string, proto uint8, priority int) (uint32, error) {
	return db.AddPolicy(Bypass, 0, proto, src, dst, "", 0, priority)
}

// AddDropPolicy adds a policy that drops traffic between src and dst: the
// reference's IPSecAdminAddDropPolicy.
func (db *DB) AddDropPolicy(src, dst string, proto uint8, priority int) (uint32, error) {
	return db.AddPolicy(Drop, 0, proto, src, dst, "", 0, priority)
}

// AddPolicy adds a policy from strings: the reference's IPSecAdminAddPolicy.
// remote is the remote IPsec endpoint, needed for tunnel mode and empty
// for Bypass and Drop.
func (db *DB) AddPolicy(action Action, mode Mode, proto uint8, src, dst, remote string, flags Flags, priority int) (uint32, error) {
	p := Policy{Action: action, Mode: mode, Proto: proto, Flags: flags}
	if priority < 0 || priority > PriorityLowest {
		return 0, xe.Errorf(xe.BadParam, "spd: priority %d not in %d..%d", priority, PriorityHighest, PriorityLowest)
	}
	p.Priority = uint8(priority)
	var err error
	if p.Src, err = classify.ParseSelector(src); err != nil {
		return 0, err
	}
	if p.Dst, err = classify.ParseSelector(dst); err != nil {
		return 0, err
	}
	if remote != "" {
		if p.TunnelRemote, err = netip.ParseAddr(remote); err != nil {
			return 0, xe.Errorf(xe.BadParam, "spd: remote endpoint %q: %v", remote, err)
		}
	}
	return db.Add(p)
}
