package ike

import (
	"fmt"
	"net/netip"
	"runtime/debug"

	"github.com/sabre-ipsec/sabre/ike/message"
)

// Defence in depth (STYLE.md 16): a panic while processing one message is
// a bug, but it must cost no more than the IKE SA the message belongs to.
// HandleMessage recovers it, logs it with the stack, counts it
// (Stats.Panics, shown by `ike netstat`), deletes that IKE SA, and the
// daemon goes on serving every other.

// containSAPanic is deferred by HandleMessage while it holds sa checked
// out: a panic deletes sa, still held, so no other worker sees it
// half-changed.
func (d *Daemon) containSAPanic(sa *SA, b []byte, remote netip.AddrPort) {
	r := recover()
	if r == nil {
		return
	}
	d.logPanic(r, b, remote, sa.String())
	d.dropAfterPanic(sa)
}

// containPanic is deferred first by HandleMessage, for panics outside an
// IKE SA held there: parsing, and the responder's IKE_SA_INIT, whose new
// SA is checked in again as the panic unwinds. That SA, found by the
// request that made it (SPIi, address and hash), is deleted.
func (d *Daemon) containPanic(b []byte, remote netip.AddrPort) {
	r := recover()
	if r == nil {
		return
	}
	d.logPanic(r, b, remote, "")
	h, err := message.ParseHeader(b)
	if err != nil || h.Exchange != message.IKESAInit || h.IsResponse() || h.SPIr != 0 {
		return
	}
	// On a goroutine of its own: HandleMessage's caller (the socket
	// reader) must never wait for an SA that code left checked out.
	spii, hash := h.SPIi, HashMessage(b)
	d.panicCleanup.Add(1)
	started := d.goBackground(func() {
		defer d.panicCleanup.Done()
		sa, err := d.mgr.CheckoutInit(spii, remote, hash)
		if err != nil {
			return
		}
		if sa.initiator || sa.state != StateInitDone { // not the responder's half-open SA of this request
			d.checkin(sa)
			return
		}
		d.dropAfterPanic(sa)
	})
	if !started {
		d.panicCleanup.Done() // Close removes the SA
	}
}

func (d *Daemon) logPanic(r any, b []byte, remote netip.AddrPort, ikeSA string) {
	d.stats.Panics.Add(1)
	hdr := fmt.Sprintf("%d octets, no IKE header", len(b))
	if h, err := message.ParseHeader(b); err == nil {
		hdr = h.String()
	}
	d.log.Error("panic processing an IKE message; its IKE SA is deleted", "panic", fmt.Sprint(r),
		"hdr", hdr, "from", remote, "ike_sa", ikeSA, "stack", string(debug.Stack()))
}

// dropAfterPanic deletes sa, which the caller holds checked out. Its state
// may be half-changed: if removing it panics too, it leaves the manager
// all the same.
func (d *Daemon) dropAfterPanic(sa *SA) {
	defer func() {
		if r := recover(); r != nil {
			d.log.Error("panic deleting an IKE SA after a panic", "ike_sa", sa.String(), "panic", fmt.Sprint(r))
			if err := sa.set(StateDead); err != nil {
				d.log.Error("removing an IKE SA after a panic", "ike_sa", sa.String(), "err", err)
			}
			d.mgr.Remove(sa.key)
		}
	}()
	d.remove(sa, "internal error (panic) processing its message")
}
