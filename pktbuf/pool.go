package pktbuf

import "sync"

// MaxPacket is the largest IP packet a pooled buffer holds (the IPv4 and
// non-jumbogram IPv6 maximum) besides its head- and tailroom.
const MaxPacket = 65535

// Pool recycles Buffers of one size so that the packet path allocates nothing
// in steady state.
type Pool struct {
	headroom, size, tailroom int
	p                        sync.Pool
}

// NewPool returns a pool of buffers with the given headroom, packet capacity
// and tailroom.
func NewPool(headroom, size, tailroom int) *Pool {
	pl := &Pool{headroom: headroom, size: size, tailroom: tailroom}
	pl.p.New = func() any {
		return New(headroom, 0, size+tailroom)
	}
	return pl
}

// DefaultPool holds buffers for any IP packet with default head- and tailroom.
var DefaultPool = NewPool(DefaultHeadroom, MaxPacket, DefaultTailroom)

// Get returns an empty buffer whose packet starts after the pool's headroom.
func (pl *Pool) Get() *Buffer {
	b := pl.p.Get().(*Buffer)
	b.off = pl.headroom
	b.end = pl.headroom
	return b
}

// Put returns b to the pool. b must not be used afterwards.
func (pl *Pool) Put(b *Buffer) {
	if len(b.buf) != pl.headroom+pl.size+pl.tailroom {
		return // grown or foreign: let the GC have it
	}
	pl.p.Put(b)
}
