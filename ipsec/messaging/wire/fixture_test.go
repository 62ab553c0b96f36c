package wire

import "net/netip"

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

// key returns a deterministic key of n bytes distinct per seed.
func key(n int, seed byte) []byte {
	k := make([]byte, n)
	for i := range k {
		k[i] = seed ^ byte(i*31+7)
	}
	return k
}
