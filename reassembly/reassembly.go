// Package reassembly reassembles outer IPv4 (RFC 791) and IPv6 (RFC 8200
// §4.5) fragments of ESP and AH packets that a host stack hands to Sabre
// before its own reassembly, with bounded memory and timeouts.
//
// Rules, beyond the RFCs' letter:
//   - A datagram whose fragments overlap is dropped whole, for IPv4 as for
//     IPv6 (RFC 5722). An exact duplicate of a held fragment is ignored and
//     counted in Stats.Duplicates.
//   - A fragment that is wrong on its own (zero length, a non-last fragment
//     whose length is not a multiple of 8, or one that would make the
//     datagram longer than 65535 bytes) is dropped alone; one that
//     contradicts the datagram's other fragments (a second or a too-short
//     last fragment, data past the last fragment) drops the datagram.
//   - The reassembled datagram gets the first fragment's header (RFC 791
//     §3.2, RFC 8200 §4.5).
//   - An IPv6 atomic fragment (offset 0, M=0) is returned at once without
//     its Fragment header and touches no reassembly state (RFC 6946).
//   - Memory is charged per copied byte plus a fixed bookkeeping overhead
//     per fragment and datagram; when Config.MaxBytes or
//     Config.MaxDatagrams would be exceeded, the oldest incomplete datagrams
//     are evicted.
//
// The Reassembler runs no goroutine: expired datagrams are dropped when
// Process runs and when the owner calls Sweep.
package reassembly

import (
	"container/list"
	"sync"
	"time"

	"github.com/sabre-ipsec/sabre/pktbuf"
	"github.com/sabre-ipsec/sabre/xe"
)

// Defaults for a zero Config field.
const (
	// DefaultMaxBytes matches Linux's ipfrag_high_thresh.
	DefaultMaxBytes = 4 << 20
	// DefaultMaxDatagrams bounds the number of incomplete datagrams.
	DefaultMaxDatagrams = 1024
	// DefaultTimeoutIPv4 matches Linux's ipfrag_time; RFC 791 leaves the
	// value to the implementation.
	DefaultTimeoutIPv4 = 30 * time.Second
	// DefaultTimeoutIPv6 is RFC 8200 §4.5's 60 seconds.
	DefaultTimeoutIPv6 = 60 * time.Second
)

// Config sets a Reassembler's limits. The zero value takes the defaults.
type Config struct {
	// MaxBytes bounds the memory held by incomplete datagrams, counting
	// copied bytes and bookkeeping.
	MaxBytes int
	// MaxDatagrams bounds the number of incomplete datagrams.
	MaxDatagrams int
	// TimeoutIPv4 and TimeoutIPv6 are how long after its first fragment a
	// datagram may take to complete.
	TimeoutIPv4, TimeoutIPv6 time.Duration
	// Now is the clock; time.Now if nil.
	Now func() time.Time
	// Pool supplies the buffers Process returns; pktbuf.DefaultPool if
	// nil. Its headroom lets the caller decapsulate in place.
	Pool *pktbuf.Pool
}

// Reassembler holds incomplete datagrams. It is safe for concurrent use.
type Reassembler struct {
	cfg Config

	mu    sync.Mutex
	table map[key]*datagram
	// queues holds each family's datagrams oldest first. A family has
	// one timeout, so this is also the order in which they expire.
	queues [2]list.List
	held   int

	stats counters
}

// New returns a Reassembler with the limits in cfg.
func New(cfg Config) *Reassembler {
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.MaxDatagrams <= 0 {
		cfg.MaxDatagrams = DefaultMaxDatagrams
	}
	if cfg.TimeoutIPv4 <= 0 {
		cfg.TimeoutIPv4 = DefaultTimeoutIPv4
	}
	if cfg.TimeoutIPv6 <= 0 {
		cfg.TimeoutIPv6 = DefaultTimeoutIPv6
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Pool == nil {
		cfg.Pool = pktbuf.DefaultPool
	}
	return &Reassembler{cfg: cfg, table: make(map[key]*datagram)}
}

// IsFragment reports whether pkt, an IPv4 or IPv6 packet, is a fragment:
// IPv4 with MF set or a nonzero fragment offset, or IPv6 with a Fragment
// header after the Hop-by-Hop, Routing and Destination Options headers (an
// atomic fragment included). It checks no more than it needs to and does
// not allocate; a truncated packet is not a fragment.
func IsFragment(pkt []byte) bool {
	if len(pkt) == 0 {
		return false
	}
	switch pkt[0] >> 4 {
	case 4:
		return isIPv4Fragment(pkt)
	case 6:
		return isIPv6Fragment(pkt)
	}
	return false
}

// Process takes one packet. For a fragment that leaves its datagram
// incomplete it returns nil, nil. When the datagram is complete it returns
// it in a buffer from Config.Pool, which the caller owns: IPv4 with MF and
// the fragment offset cleared and the total length and header checksum
// set; IPv6 without the Fragment header and with the payload length set.
// A packet that is not a fragment is returned as a copy. A packet or
// fragment that cannot be used yields an error of code xe.MalformedPacket
// (bad header) or xe.FragmentError (bad or conflicting fragment, memory
// limit).
//
// Process does not keep pkt.
func (r *Reassembler) Process(pkt []byte) (*pktbuf.Buffer, error) {
	var (
		f          fragment
		isFragment bool
		err        error
	)
	switch v := version(pkt); v {
	case 4:
		f, isFragment, err = parseIPv4(pkt)
	case 6:
		f, isFragment, err = parseIPv6(pkt)
	default:
		err = xe.Errorf(xe.MalformedPacket, "reassembly: IP version %d", v)
	}
	if err != nil {
		r.stats.malformed.Add(1)
		return nil, err
	}
	if !isFragment {
		b := r.cfg.Pool.Get()
		copy(b.Append(len(pkt)), pkt)
		return b, nil
	}
	r.stats.fragmentsReceived.Add(1)
	if f.key.v6 && f.offset == 0 && !f.more {
		r.stats.atomicFragments.Add(1)
		b := r.cfg.Pool.Get()
		assembleAtomic(&f, b)
		return b, nil
	}
	if err := f.validate(); err != nil {
		r.stats.malformed.Add(1)
		return nil, err
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.cfg.Now()
	r.expire(now)
	d := r.table[f.key]
	if d != nil {
		v, err := d.check(&f)
		switch v {
		case duplicate:
			r.stats.duplicates.Add(1)
			return nil, nil
		case overlap:
			r.stats.overlaps.Add(1)
			r.drop(d)
			return nil, err
		case conflict:
			r.stats.malformed.Add(1)
			r.drop(d)
			return nil, err
		}
	}
	c := cost(&f, d)
	if d != nil && d.held+c > r.cfg.MaxBytes {
		r.stats.evictions.Add(1)
		r.drop(d)
		return nil, xe.Errorf(xe.FragmentError, "reassembly: %v: datagram would hold %d bytes, over the limit of %d; datagram dropped", f.key, d.held+c, r.cfg.MaxBytes)
	}
	if d == nil && c > r.cfg.MaxBytes {
		r.stats.evictions.Add(1)
		return nil, xe.Errorf(xe.FragmentError, "reassembly: %v: fragment needs %d bytes, over the limit of %d", f.key, c, r.cfg.MaxBytes)
	}
	r.makeRoom(c, d)
	if d == nil {
		d = r.create(f.key, now)
	}
	d.insert(&f)
	d.held += c
	r.held += c
	r.stats.bytesHeld.Store(int64(r.held))
	if !d.complete() {
		return nil, nil
	}
	b := r.cfg.Pool.Get()
	d.assemble(b)
	r.drop(d)
	r.stats.datagramsReassembled.Add(1)
	return b, nil
}

func version(pkt []byte) int {
	if len(pkt) == 0 {
		return 0
	}
	return int(pkt[0] >> 4)
}

// Sweep drops the datagrams whose time is up and returns how many it
// dropped. The owner calls it periodically; Process also drops expired
// datagrams, but only when fragments arrive.
func (r *Reassembler) Sweep() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.expire(r.cfg.Now())
}

// expire drops the expired datagrams from the front of each queue.
func (r *Reassembler) expire(now time.Time) int {
	n := 0
	for i := range r.queues {
		for e := r.queues[i].Front(); e != nil; e = r.queues[i].Front() {
			d := e.Value.(*datagram)
			if now.Before(d.expires) {
				break
			}
			r.drop(d)
			r.stats.timeouts.Add(1)
			n++
		}
	}
	return n
}

// makeRoom evicts the oldest datagrams other than keep until c more bytes
// fit. The caller has checked that keep plus c fits on its own.
func (r *Reassembler) makeRoom(c int, keep *datagram) {
	for r.held+c > r.cfg.MaxBytes {
		d := r.oldest(keep)
		if d == nil {
			return // unreachable given the caller's check
		}
		r.drop(d)
		r.stats.evictions.Add(1)
	}
}

// oldest returns the datagram created first, other than skip.
func (r *Reassembler) oldest(skip *datagram) *datagram {
	var best *datagram
	for i := range r.queues {
		e := r.queues[i].Front()
		if e != nil && e.Value.(*datagram) == skip {
			e = e.Next()
		}
		if e == nil {
			continue
		}
		d := e.Value.(*datagram)
		if best == nil || d.created.Before(best.created) {
			best = d
		}
	}
	return best
}

func (r *Reassembler) timeout(k key) time.Duration {
	if k.v6 {
		return r.cfg.TimeoutIPv6
	}
	return r.cfg.TimeoutIPv4
}

// create adds an empty datagram, evicting the oldest if MaxDatagrams are
// held.
func (r *Reassembler) create(k key, now time.Time) *datagram {
	for len(r.table) >= r.cfg.MaxDatagrams {
		r.drop(r.oldest(nil))
		r.stats.evictions.Add(1)
	}
	d := &datagram{key: k, created: now, expires: now.Add(r.timeout(k)), total: -1}
	d.elem = r.queues[k.family()].PushBack(d)
	r.table[k] = d
	r.stats.datagrams.Store(int64(len(r.table)))
	return d
}

// drop forgets d and releases its memory.
func (r *Reassembler) drop(d *datagram) {
	r.queues[d.key.family()].Remove(d.elem)
	delete(r.table, d.key)
	r.held -= d.held
	r.stats.datagrams.Store(int64(len(r.table)))
	r.stats.bytesHeld.Store(int64(r.held))
}
