package ipsec

import (
	"math/rand/v2"
	"sync"
	"time"

	"github.com/sabre-ipsec/sabre/header"
	"github.com/sabre-ipsec/sabre/pktbuf"
	"github.com/sabre-ipsec/sabre/spd"
	"github.com/sabre-ipsec/sabre/xe"
)

// The reference's dummy packet limits (ipsec/timer.c): payloads of 0..15
// bytes, sent 0..30 seconds apart.
const (
	maxDummyPayload  = 16
	maxDummyInterval = 30 * time.Second
)

// dummyTimers sends RFC 4303 §2.6 dummy packets on every policy with
// SP_TX_DUMMY_PKT in ESP tunnel mode, one timer per policy, at random
// intervals so that their timing reveals nothing.
type dummyTimers struct {
	e      *Engine
	mu     sync.Mutex
	timers map[uint32]*time.Timer
	closed bool
	// interval returns the next delay; tests shorten it.
	interval func() time.Duration
}

func (d *dummyTimers) init(e *Engine) {
	d.e = e
	d.timers = map[uint32]*time.Timer{}
	d.interval = func() time.Duration { return rand.N(maxDummyInterval + time.Nanosecond) }
}

// start arms the dummy timer of policy id if it is not running yet.
func (d *dummyTimers) start(id uint32) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed || d.timers[id] != nil {
		return
	}
	d.timers[id] = time.AfterFunc(d.interval(), func() { d.fire(id) })
}

func (d *dummyTimers) stop(id uint32) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if t := d.timers[id]; t != nil {
		t.Stop()
		delete(d.timers, id)
	}
}

func (d *dummyTimers) stopAll() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	for id, t := range d.timers {
		t.Stop()
		delete(d.timers, id)
	}
}

func (d *dummyTimers) fire(id uint32) {
	p := d.e.spd.Get(id)
	if p == nil || p.Flags&spd.FlagTxDummyPkt == 0 || p.Mode != spd.Tunnel {
		d.stop(id)
		return
	}
	if err := d.e.SendDummy(p); err != nil {
		d.e.stats.drop(err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if t := d.timers[id]; t != nil && !d.closed {
		t.Reset(d.interval())
	}
}

// SendDummy builds one dummy packet for policy p's outbound ESP SA and hands
// it to Config.Output. The dummy's inner packet is an IP header of the
// tunnel's family with protocol 59 and 0..15 random bytes; the ESP
// trailer's Next Header is 59 so that the receiver discards it.
func (e *Engine) SendDummy(p *spd.Policy) error {
	espSA, ahSA := outboundSAs(e.sad.Session(p.ID))
	if espSA == nil || p.Mode != spd.Tunnel || e.cfg.Output == nil {
		return xe.Errorf(xe.SessUnavlForDummyTx, "policy %d has no outbound ESP tunnel SA or no output", p.ID)
	}
	b := pktbuf.DefaultPool.Get()
	n := rand.IntN(maxDummyPayload)
	src, dst := espSA.Local(), espSA.Remote()
	var info ipInfo
	if dst.Is4() {
		h := header.IPv4(b.Append(header.IPv4MinLen + n))
		h.Encode(&header.IPv4Fields{TotalLength: header.IPv4MinLen + n, TTL: e.cfg.TTL, Protocol: header.ProtoNone, Src: src, Dst: dst})
		fillRandom(h[header.IPv4MinLen:])
	} else {
		h := header.IPv6(b.Append(header.IPv6Len + n))
		h.Encode(&header.IPv6Fields{PayloadLength: n, NextHeader: header.ProtoNone, HopLimit: e.cfg.TTL, Src: src, Dst: dst})
		fillRandom(h[header.IPv6Len:])
		info.v6 = true
	}
	if err := e.protect(b, &info, p, espSA, ahSA, true); err != nil {
		pktbuf.DefaultPool.Put(b)
		return err
	}
	e.stats.DummyTx.Add(1)
	espSA.Counters.DummyTx.Add(1)
	e.cfg.Output(b)
	return nil
}

func fillRandom(b []byte) {
	for i := range b {
		b[i] = byte(rand.Uint32())
	}
}
