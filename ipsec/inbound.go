package ipsec

import (
	"encoding/binary"

	"github.com/sabre-ipsec/sabre/classify"
	"github.com/sabre-ipsec/sabre/header"
	"github.com/sabre-ipsec/sabre/pktbuf"
	"github.com/sabre-ipsec/sabre/sad"
	"github.com/sabre-ipsec/sabre/spd"
	"github.com/sabre-ipsec/sabre/xe"
)

// inboundState follows one packet through the AH and ESP layers it carries.
type inboundState struct {
	policyID uint32      // of the SAs applied; all must belong to one policy
	policy   *spd.Policy // that policy, if it still exists
	mode     sad.Mode
	hadAH    bool
	hadESP   bool
	natt     bool
	outerTOS uint8
}

// Decapsulate processes an IP packet addressed to this host, the
// reference's PacketDecapsulateSync. ESP and AH packets (also
// UDP-encapsulated ESP on a NAT-T port) are verified, decrypted and
// stripped; the result is checked against inbound policy. Cleartext
// packets are checked against policy too.
//
// Results: SecureTunnel (b holds the inner packet; restart IP processing
// on it), SecureTransport (b holds the packet without ESP/AH), Bypass (b is
// unchanged), Drop (err names the reason, already counted), Pending (an
// outer fragment was kept for reassembly), Consumed (a NAT-T keepalive).
func (e *Engine) Decapsulate(b *pktbuf.Buffer) (Result, error) {
	pkt := b.Bytes()
	var info ipInfo
	if !validIP(pkt, &info, &b.Reason) {
		return Drop, e.dropped(b)
	}
	if info.total < len(pkt) {
		b.SetLen(info.total)
		pkt = b.Bytes()
	}
	if info.isFrag {
		if res, err := e.reassemble(b, &info); res != Bypass || err != nil {
			return res, err
		}
		pkt = b.Bytes()
	}
	var st inboundState
	switch info.proto {
	case header.ProtoESP, header.ProtoAH:
		return e.inboundSecured(b, &info, &st)
	case header.ProtoUDP:
		if len(pkt) >= info.pOff+header.UDPLen && e.isNATTPort(header.UDP(pkt[info.pOff:]).DstPort()) {
			if l := header.UDP(pkt[info.pOff:]).Length(); l != len(pkt)-info.pOff {
				return Drop, e.dropf(b, xe.MalformedPacket, "UDP length %d on NAT-T port, but %d bytes follow the IP header", xe.Int(l), xe.Int(len(pkt)-info.pOff))
			}
			switch classifyNATT(pkt[info.pOff+header.UDPLen:]) {
			case natESP:
				st.natt = true
				return e.inboundSecured(b, &info, &st)
			case natKeepalive:
				e.stats.NATKeepalives.Add(1)
				return Consumed, nil
			case natInvalid:
				return Drop, e.dropf(b, xe.MalformedPacket, "%d-byte UDP payload on NAT-T port is neither ESP, IKE nor keepalive", xe.Int(len(pkt)-info.pOff-header.UDPLen))
			}
			// natIKE: IKE's traffic, subject to policy like any other.
		}
	}
	var key classify.Packet
	fillKey(pkt, &info, &key)
	p := e.spd.Lookup(spd.Inbound, &key)
	switch policyResult(p, e.defaultResult) {
	case Bypass:
		e.stats.InBypass.Add(1)
		return Bypass, nil
	case Drop:
		return Drop, e.dropf(b, xe.PolicyDrop, "inbound %v -> %v proto %d", xe.Addr(key.Src), xe.Addr(key.Dst), xe.Uint(key.Proto))
	}
	return Drop, e.dropf(b, xe.InboundExpectedSecurePacket, "cleartext %v -> %v proto %d matches SECURE policy %d", xe.Addr(key.Src), xe.Addr(key.Dst), xe.Uint(key.Proto), xe.Uint(p.ID))
}

// reassemble hands an outer fragment to the reassembler. It returns Bypass
// with b holding the whole datagram once the last fragment is in.
func (e *Engine) reassemble(b *pktbuf.Buffer, info *ipInfo) (Result, error) {
	e.stats.Fragments.Add(1)
	whole, err := e.reasm.Process(b.Bytes())
	if err != nil {
		return Drop, e.dropErr(b, err)
	}
	if whole == nil {
		return Pending, nil
	}
	e.stats.Reassembled.Add(1)
	b.Reset(whole.Storage(), whole.Offset(), whole.Len())
	if !validIP(b.Bytes(), info, &b.Reason) {
		return Drop, e.dropped(b)
	}
	return Bypass, nil
}

// inboundSecured processes the AH and/or ESP headers at info.pOff, then
// checks the result against the policy of the SAs.
func (e *Engine) inboundSecured(b *pktbuf.Buffer, info *ipInfo, st *inboundState) (Result, error) {
	pkt := b.Bytes()
	st.outerTOS, _, _ = innerTOS(pkt)
	nhOff := info.protoNHOff
	proto := info.proto
	if proto == header.ProtoAH {
		var ok bool
		if proto, ok = e.inboundAH(b, info, nhOff, st); !ok {
			return Drop, e.dropped(b)
		}
		if st.mode == sad.Tunnel && proto != header.ProtoESP {
			return e.finishTunnel(b, 0, -1, proto, st)
		}
		if proto != header.ProtoESP {
			return e.finishSecured(b, st)
		}
	}
	return e.inboundESP(b, info, nhOff, st)
}

// inboundAH verifies and strips the AH header at info.pOff (RFC 4302 §3.4),
// leaving the IP header in front of what followed it. On failure b.Reason
// says why.
func (e *Engine) inboundAH(b *pktbuf.Buffer, info *ipInfo, nhOff int, st *inboundState) (uint8, bool) {
	pkt := b.Bytes()
	hl := info.pOff
	if len(pkt) < hl+header.AHHeaderLen {
		b.Reason.Set(xe.MalformedPacket, "AH header truncated: %d bytes", xe.Int(len(pkt)-hl))
		return 0, false
	}
	ah := header.AH(pkt[hl:])
	src, dst := ipAddrs(pkt, info.v6)
	sa := e.sad.LookupInbound(ah.SPI(), sad.AH, dst)
	if sa == nil {
		b.Reason.Set(xe.BadAHSPI, "no inbound AH SA for SPI %#08x from %v to %v", xe.Uint(ah.SPI()), xe.Addr(src), xe.Addr(dst))
		return 0, false
	}
	if !sa.Acquire() {
		b.Reason.Set(xe.BadAHSPI, "inbound AH SA %#08x was just deleted", xe.Uint(ah.SPI()))
		return 0, false
	}
	next, ok := e.verifyAH(b, info, nhOff, st, sa)
	sa.Release()
	return next, ok
}

// verifyAH is inboundAH with the SA held.
func (e *Engine) verifyAH(b *pktbuf.Buffer, info *ipInfo, nhOff int, st *inboundState, sa *sad.SA) (uint8, bool) {
	pkt := b.Bytes()
	hl := info.pOff
	ah := header.AH(pkt[hl:])
	seq, err := sa.CheckReplayDrop(ah.SequenceNumber(), &b.Reason)
	if err != nil {
		return 0, false
	}
	n, next, ok := ahVerify(pkt, hl, info.v6, sa.AH(), uint32(seq>>32), sa.ESN(), &b.Reason)
	if !ok {
		if b.Reason.Code == xe.AHDigestMismatch {
			sa.Counters.ICVFailures.Add(1)
		}
		return 0, false
	}
	// RFC 4302 §3.4.3: the window advances only for authenticated packets.
	if err := sa.CommitReplay(seq); err != nil {
		b.Reason.Wrap(err)
		return 0, false
	}
	if err := sa.Account(len(pkt) - hl - n); err != nil {
		b.Reason.Wrap(err)
		return 0, false
	}
	st.hadAH, st.policyID, st.mode = true, sa.PolicyID(), sa.Mode()
	st.policy = e.spd.Get(st.policyID)
	b.MoveFront(hl, n)
	setIPProto(b.Bytes(), info.v6, nhOff, next)
	info.total = b.Len()
	return next, true
}

// inboundESP verifies, decrypts and strips the ESP packet at info.pOff (or
// after the UDP header when st.natt).
func (e *Engine) inboundESP(b *pktbuf.Buffer, info *ipInfo, nhOff int, st *inboundState) (Result, error) {
	pkt := b.Bytes()
	hl := info.pOff
	espOff := hl
	if st.natt {
		espOff += header.UDPLen
	}
	esp := pkt[espOff:]
	if len(esp) < header.ESPHeaderLen {
		return Drop, e.dropf(b, xe.MalformedPacket, "ESP header truncated: %d bytes", xe.Int(len(esp)))
	}
	h := header.ESP(esp)
	src, dst := ipAddrs(pkt, info.v6)
	sa := e.sad.LookupInbound(h.SPI(), sad.ESP, dst)
	if sa == nil {
		return Drop, e.dropf(b, xe.BadESPSPI, "no inbound ESP SA for SPI %#08x from %v to %v", xe.Uint(h.SPI()), xe.Addr(src), xe.Addr(dst))
	}
	if !sa.Acquire() {
		return Drop, e.dropf(b, xe.BadESPSPI, "inbound ESP SA %#08x was just deleted", xe.Uint(h.SPI()))
	}
	res, err := e.openESP(b, info, nhOff, st, sa, espOff)
	sa.Release()
	return res, err
}

// openESP is inboundESP with the SA held.
func (e *Engine) openESP(b *pktbuf.Buffer, info *ipInfo, nhOff int, st *inboundState, sa *sad.SA, espOff int) (Result, error) {
	pkt := b.Bytes()
	hl := info.pOff
	esp := pkt[espOff:]
	h := header.ESP(esp)
	if st.hadAH && sa.PolicyID() != st.policyID {
		return Drop, e.dropf(b, xe.InboundPolicyFailure, "AH and ESP SAs belong to policies %d and %d", xe.Uint(st.policyID), xe.Uint(sa.PolicyID()))
	}
	// RFC 7296 §2.23, RFC 3948: whether ESP is UDP-encapsulated is
	// negotiated per SA, so a packet that arrives otherwise is not for this
	// SA (Linux: XfrmInStateMismatch). Only the presence is compared: a NAT
	// may change the ports at any time.
	if _, encap := sa.Encap(); encap != st.natt {
		return Drop, e.encapMismatch(b, h.SPI(), st.natt)
	}
	seq, err := sa.CheckReplayDrop(h.SequenceNumber(), &b.Reason)
	if err != nil {
		return Drop, e.dropped(b)
	}
	if !st.hadAH {
		st.policy = e.spd.Get(sa.PolicyID())
	}
	checkPad := st.policy != nil && st.policy.Flags&spd.FlagCheckESPPad != 0
	p, ok := espOpen(esp, sa.ESP(), uint32(seq>>32), sa.ESN(), checkPad, &b.Reason)
	if !ok {
		if b.Reason.Code == xe.ESPDigestMismatch {
			sa.Counters.ICVFailures.Add(1)
		}
		return Drop, e.dropped(b)
	}
	// RFC 4303 §3.4.3: the window advances only after the ICV verified.
	if err := sa.CommitReplay(seq); err != nil {
		return Drop, e.dropErr(b, err)
	}
	if err := sa.Account(p.end - p.start); err != nil {
		return Drop, e.dropErr(b, err)
	}
	st.hadESP, st.policyID, st.mode = true, sa.PolicyID(), sa.Mode()
	if p.next == header.ProtoNone {
		// RFC 4303 §2.6: a dummy packet; discard it silently.
		e.stats.DummyRx.Add(1)
		sa.Counters.DummyRx.Add(1)
		return Drop, nil
	}
	if sa.Mode() == sad.Tunnel {
		return e.finishTunnel(b, espOff+p.start, espOff+p.end, p.next, st)
	}
	// Transport: drop the trailer, then move the IP header forward over the
	// UDP header (if any), the ESP header and the IV.
	b.SetLen(espOff + p.end)
	b.MoveFront(hl, espOff+p.start-hl)
	pkt = b.Bytes()
	setIPProto(pkt, info.v6, nhOff, p.next)
	if st.natt {
		fixTransportChecksum(pkt, hl, info.v6, p.next)
	}
	return e.finishSecured(b, st)
}

// finishTunnel strips the outer header in front of the inner packet at
// b.Bytes()[start:end] (start 0: after the outer IP header; end -1: to the
// end), applies ECN decapsulation and checks inbound policy.
func (e *Engine) finishTunnel(b *pktbuf.Buffer, start, end int, next uint8, st *inboundState) (Result, error) {
	if end >= 0 {
		b.SetLen(end)
	}
	var info ipInfo
	if start == 0 {
		// AH-only tunnel: the inner packet follows the outer IP header.
		if !validIP(b.Bytes(), &info, &b.Reason) {
			return Drop, e.dropped(b)
		}
		start = info.pOff
	}
	b.TrimFront(start)
	if !validIP(b.Bytes(), &info, &b.Reason) {
		return Drop, e.dropped(b)
	}
	if want := uint8(header.ProtoIPv4); info.v6 {
		want = header.ProtoIPv6
		if next != want {
			return Drop, e.dropf(b, xe.MalformedPacket, "tunnel-mode next header %d but the inner packet is IPv6", xe.Uint(next))
		}
	} else if next != want {
		return Drop, e.dropf(b, xe.MalformedPacket, "tunnel-mode next header %d but the inner packet is IPv4", xe.Uint(next))
	}
	// The inner length field removes TFC padding (RFC 4303 §2.7).
	b.SetLen(info.total)
	inner := b.Bytes()
	fullECN := st.policy != nil && st.policy.Flags&spd.FlagFullECN != 0
	tos, _, _ := innerTOS(inner)
	newTOS, ok := decapECN(st.outerTOS, tos, fullECN)
	if !ok {
		return Drop, e.dropf(b, xe.InboundPolicyFailure, "CE-marked outer header on a Not-ECT inner packet (RFC 6040)")
	}
	if newTOS != tos {
		if !info.v6 {
			h := header.IPv4(inner)
			h.SetTOS(newTOS)
			h.UpdateChecksum()
		} else {
			header.IPv6(inner).SetTrafficClass(newTOS)
		}
	}
	return e.checkInbound(b, &info, st)
}

// finishSecured parses the decapsulated transport-mode packet and checks it
// against inbound policy.
func (e *Engine) finishSecured(b *pktbuf.Buffer, st *inboundState) (Result, error) {
	var info ipInfo
	if !validIP(b.Bytes(), &info, &b.Reason) {
		return Drop, e.dropped(b)
	}
	return e.checkInbound(b, &info, st)
}

// checkInbound checks the decapsulated packet against inbound policy
// (RFC 4301 §5.2): it must match the very policy whose SAs protected it,
// with every protocol that policy requires.
func (e *Engine) checkInbound(b *pktbuf.Buffer, info *ipInfo, st *inboundState) (Result, error) {
	pkt := b.Bytes()
	var key classify.Packet
	fillKey(pkt, info, &key)
	p := e.spd.Lookup(spd.Inbound, &key)
	if p == nil || p.Action != spd.Secure {
		return Drop, e.dropf(b, xe.InboundUnexpectedSecuredPacket, "%v -> %v proto %d arrived protected by policy %d's SA but matches no SECURE policy", xe.Addr(key.Src), xe.Addr(key.Dst), xe.Uint(key.Proto), xe.Uint(st.policyID))
	}
	if p.ID != st.policyID {
		return Drop, e.dropf(b, xe.InboundPolicyFailure, "%v -> %v proto %d matches policy %d, but arrived on an SA of policy %d", xe.Addr(key.Src), xe.Addr(key.Dst), xe.Uint(key.Proto), xe.Uint(p.ID), xe.Uint(st.policyID))
	}
	if p.Flags&spd.FlagProtoESP != 0 && !st.hadESP || p.Flags&spd.FlagProtoAH != 0 && !st.hadAH {
		return Drop, e.dropErr(b, xe.Errorf(xe.InboundPolicyFailure, "policy %d requires %v", p.ID, p.Flags&(spd.FlagProtoESP|spd.FlagProtoAH)))
	}
	e.stats.InPackets.Add(1)
	e.stats.InBytes.Add(uint64(len(pkt)))
	if st.mode == sad.Tunnel {
		return SecureTunnel, nil
	}
	return SecureTransport, nil
}

// fixTransportChecksum recomputes the TCP or UDP checksum after
// transport-mode NAT-T decapsulation: the peer computed it over addresses a
// NAT has since rewritten, and RFC 3948 §3.1.2 lets the receiver recompute
// it instead of patching it with NAT-OA.
func fixTransportChecksum(pkt []byte, hl int, v6 bool, proto uint8) {
	src, dst := ipAddrs(pkt, v6)
	l4 := pkt[hl:]
	var off int
	switch proto {
	case header.ProtoTCP:
		off = 16
	case header.ProtoUDP:
		off = 6
		if !v6 && len(l4) >= 8 && binary.BigEndian.Uint16(l4[6:]) == 0 {
			return // IPv4 UDP without a checksum
		}
	default:
		return
	}
	if len(l4) < off+2 {
		return
	}
	binary.BigEndian.PutUint16(l4[off:], 0)
	sum := ^header.Checksum(l4, header.PseudoHeaderChecksum(proto, src, dst, len(l4)))
	if proto == header.ProtoUDP && sum == 0 {
		sum = 0xffff
	}
	binary.BigEndian.PutUint16(l4[off:], sum)
}

// encapMismatch drops ESP whose UDP encapsulation (udp: it came in UDP)
// is not its SA's.
func (e *Engine) encapMismatch(b *pktbuf.Buffer, spi uint32, udp bool) error {
	if udp {
		return e.dropf(b, xe.EncapMismatch, "UDP-encapsulated ESP for SA %#08x, which has no UDP encapsulation", xe.Uint(spi))
	}
	return e.dropf(b, xe.EncapMismatch, "plain ESP for SA %#08x, which is UDP-encapsulated", xe.Uint(spi))
}
