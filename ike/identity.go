package ike

// An index of the established IKE SAs by remote and peer identity, for
// INITIAL_CONTACT and duplicate IKE SAs (unique.go): those ask which IKE
// SAs share an identity on every handshake, which must not walk all IKE
// SAs (STYLE.md 17).

// identityKey is the index key of sa: its remote's name and the peer's
// identity.
func identityKey(sa *SA) string {
	name := ""
	if sa.remote != nil {
		name = sa.remote.Name
	}
	return name + "\x00" + sa.peerID.String()
}

// indexIdentity adds sa, just established, to the index.
func (d *Daemon) indexIdentity(sa *SA) {
	if sa.indexed {
		return
	}
	k := identityKey(sa)
	d.idMu.Lock()
	defer d.idMu.Unlock()
	if d.byIdentity == nil {
		d.byIdentity = map[string]map[SAKey]struct{}{}
	}
	set := d.byIdentity[k]
	if set == nil {
		set = map[SAKey]struct{}{}
		d.byIdentity[k] = set
	}
	set[sa.key] = struct{}{}
	sa.indexed = true
}

// unindexIdentity removes sa, going, from the index.
func (d *Daemon) unindexIdentity(sa *SA) {
	if !sa.indexed {
		return
	}
	k := identityKey(sa)
	d.idMu.Lock()
	defer d.idMu.Unlock()
	if set := d.byIdentity[k]; set != nil {
		delete(set, sa.key)
		if len(set) == 0 {
			delete(d.byIdentity, k)
		}
	}
	sa.indexed = false
}

// sameIdentity returns the keys of the other established IKE SAs with
// sa's remote and peer identity.
func (d *Daemon) sameIdentity(sa *SA) []SAKey {
	d.idMu.Lock()
	defer d.idMu.Unlock()
	var out []SAKey
	for k := range d.byIdentity[identityKey(sa)] {
		if k != sa.key {
			out = append(out, k)
		}
	}
	return out
}
