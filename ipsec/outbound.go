package ipsec

import (
	"math/rand/v2"

	"github.com/sabre-ipsec/sabre/classify"
	"github.com/sabre-ipsec/sabre/header"
	"github.com/sabre-ipsec/sabre/pktbuf"
	"github.com/sabre-ipsec/sabre/sad"
	"github.com/sabre-ipsec/sabre/spd"
	"github.com/sabre-ipsec/sabre/xe"
)

// maxTFCPadding bounds TFC padding: a random 0..MAX_TFC_PADDING_SIZE-1
// bytes, as the reference's ipsec_compute_tfc_pad_len does.
const maxTFCPadding = 256

// GetPolicy classifies the IP packet pkt in direction dir without changing
// it: the reference's PacketGetPolicy. It returns the decision and the
// matching policy (nil when none matched and the default applies).
func (e *Engine) GetPolicy(pkt []byte, dir spd.Direction) (Result, *spd.Policy, error) {
	var info ipInfo
	var d xe.Drop
	if !validIP(pkt, &info, &d) {
		return Drop, nil, d.Clone()
	}
	var key classify.Packet
	fillKey(pkt, &info, &key)
	p := e.spd.Lookup(dir, &key)
	return policyResult(p, e.defaultResult), p, nil
}

func policyResult(p *spd.Policy, def Result) Result {
	if p == nil {
		return def
	}
	switch p.Action {
	case spd.Bypass:
		return Bypass
	case spd.Secure:
		if p.Mode == spd.Tunnel {
			return SecureTunnel
		}
		return SecureTransport
	}
	return Drop
}

// Encapsulate applies outbound policy to the IP packet in b, the
// reference's PacketEncapsulateSync. The stack calls it for packets it
// originates (after building the IP header) and for packets it forwards
// (after decrementing the TTL). On SecureTunnel/SecureTransport b holds the
// protected packet, ready to be fragmented if needed and sent; on Bypass it
// is unchanged; on Drop the stack drops it and err names why. Pending means
// the policy's SAs are being negotiated: the engine kept a copy of the
// packet and sends it through Config.Output once they arrive.
func (e *Engine) Encapsulate(b *pktbuf.Buffer) (Result, error) {
	pkt := b.Bytes()
	var info ipInfo
	if !validIP(pkt, &info, &b.Reason) {
		return Drop, e.dropped(b)
	}
	if info.total < len(pkt) {
		b.SetLen(info.total) // link-layer padding is not part of the datagram
		pkt = b.Bytes()
	}
	var key classify.Packet
	fillKey(pkt, &info, &key)
	p := e.spd.Lookup(spd.Outbound, &key)
	switch res := policyResult(p, e.defaultResult); res {
	case Bypass:
		e.stats.OutBypass.Add(1)
		return Bypass, nil
	case Drop:
		return Drop, e.dropf(b, xe.PolicyDrop, "outbound %v -> %v proto %d", xe.Addr(key.Src), xe.Addr(key.Dst), xe.Uint(key.Proto))
	default:
		sess := e.sad.Session(p.ID)
		espSA, ahSA := outboundSAs(sess)
		if espSA == nil && ahSA == nil || p.Flags&spd.FlagProtoESP != 0 && espSA == nil || p.Flags&spd.FlagProtoAH != 0 && ahSA == nil {
			k := key // only this rare path lets a copy escape
			return e.acquireSA(b, p, &k)
		}
		if err := e.protect(b, &info, p, espSA, ahSA, false); err != nil {
			return Drop, e.stats.drop(err)
		}
		e.stats.OutPackets.Add(1)
		e.stats.OutBytes.Add(uint64(b.Len()))
		return res, nil
	}
}

func outboundSAs(s *sad.Session) (esp, ah *sad.SA) {
	if s == nil {
		return nil, nil
	}
	return s.OutboundESP(), s.OutboundAH()
}

// protect applies ESP and/or AH to the packet per policy p. With both,
// ESP is applied first and AH protects the result (RFC 4301 §4.5 bundle
// order: AH outermost). A dummy packet (RFC 4303 §2.6) carries Next Header
// 59 in its ESP trailer.
func (e *Engine) protect(b *pktbuf.Buffer, info *ipInfo, p *spd.Policy, espSA, ahSA *sad.SA, dummy bool) error {
	if p.Mode != spd.Tunnel && info.isFrag {
		return xe.Errorf(xe.BadParam, "transport mode cannot protect a fragment; encapsulate before fragmenting")
	}
	// Hold the SAs so that a concurrent delete cannot zero their keys
	// while this packet is being sealed.
	if espSA != nil && !espSA.Acquire() {
		return xe.Errorf(xe.SAExpired, "outbound ESP SA %#08x was deleted", espSA.SPI())
	}
	if ahSA != nil && !ahSA.Acquire() {
		if espSA != nil {
			espSA.Release()
		}
		return xe.Errorf(xe.SAExpired, "outbound AH SA %#08x was deleted", ahSA.SPI())
	}
	err := e.seal(b, info, p, espSA, ahSA, dummy)
	if espSA != nil {
		espSA.Release()
	}
	if ahSA != nil {
		ahSA.Release()
	}
	return err
}

// seal is protect with the SAs held.
func (e *Engine) seal(b *pktbuf.Buffer, info *ipInfo, p *spd.Policy, espSA, ahSA *sad.SA, dummy bool) error {
	outer := espSA
	if outer == nil {
		outer = ahSA
	}
	tunnel := p.Mode == spd.Tunnel
	var espSeq, ahSeq uint64
	var err error
	if espSA != nil {
		if espSeq, err = espSA.NextSequence(); err != nil {
			return err
		}
	}
	if ahSA != nil {
		if ahSeq, err = ahSA.NextSequence(); err != nil {
			return err
		}
	}
	// Lifetimes count the bytes that ESP/AH protect: the inner packet in
	// tunnel mode, the data after the IP header in transport mode, the same
	// count the receiver makes.
	inLen := b.Len()
	if p.Mode != spd.Tunnel {
		inLen -= info.hlen
	}

	if tunnel {
		pkt := b.Bytes()
		tos, df, flow := innerTOS(pkt)
		next := uint8(header.ProtoIPv4)
		if info.v6 {
			next = header.ProtoIPv6
		}
		if dummy {
			next = header.ProtoNone
		}
		o := outerHeader{src: outer.Local(), dst: outer.Remote(), tos: outerTOS(tos, p.Flags&spd.FlagFullECN != 0), ttl: e.cfg.TTL, flow: flow}
		switch {
		case p.Flags&spd.FlagDFSet != 0:
			o.df = true
		case p.Flags&spd.FlagDFCopy != 0:
			o.df = df
		}
		outerV6 := o.dst.Is6()
		if espSA != nil {
			tfc := 0
			if p.Flags&spd.FlagTxTFCPadding != 0 {
				tfc = e.tfcLength(b.Len(), espSA, ahSA, outerV6)
			}
			espSeal(b, 0, espSA.ESP(), espSA.SPI(), espSeq, espSA.ESN(), next, tfc)
			if tfc > 0 {
				e.stats.TFCPadded.Add(1)
				e.stats.TFCBytes.Add(uint64(tfc))
				espSA.Counters.TFCPadded.Add(1)
				espSA.Counters.TFCBytes.Add(uint64(tfc))
			}
			o.proto = header.ProtoESP
			if enc, ok := espSA.Encap(); ok {
				pushUDPEncapFor(b, o.src, o.dst, enc)
				o.proto = header.ProtoUDP
			}
		} else {
			o.proto = next
		}
		hl := e.pushOuter(b, &o)
		if ahSA != nil {
			nhOff := 9
			if outerV6 {
				nhOff = 6
			}
			if err := ahInsert(b, hl, nhOff, outerV6, ahSA.AH(), ahSA.SPI(), ahSeq, ahSA.ESN()); err != nil {
				return err
			}
		}
	} else {
		if espSA != nil {
			next := b.Bytes()[info.nhOff]
			espSeal(b, info.hlen, espSA.ESP(), espSA.SPI(), espSeq, espSA.ESN(), next, 0)
			proto := uint8(header.ProtoESP)
			if enc, ok := espSA.Encap(); ok {
				pkt := b.Bytes()
				src, dst := ipAddrs(pkt, info.v6)
				b.MoveFront(info.hlen, -header.UDPLen)
				pkt = b.Bytes()
				writeUDPEncap(pkt[info.hlen:], src, dst, enc)
				proto = header.ProtoUDP
			}
			setIPProto(b.Bytes(), info.v6, info.nhOff, proto)
		}
		if ahSA != nil {
			if err := ahInsert(b, info.hlen, info.nhOff, info.v6, ahSA.AH(), ahSA.SPI(), ahSeq, ahSA.ESN()); err != nil {
				return err
			}
		}
	}

	if espSA != nil {
		if err := espSA.Account(inLen); err != nil {
			return err
		}
	}
	if ahSA != nil {
		if err := ahSA.Account(inLen); err != nil {
			return err
		}
	}
	return nil
}

// tfcLength picks the TFC padding for an inner packet of n bytes: random in
// 0..maxTFCPadding-1, but never so much that the outer packet exceeds the
// MTU (RFC 4303 §2.7: padding must not cause fragmentation).
func (e *Engine) tfcLength(n int, espSA, ahSA *sad.SA, v6 bool) int {
	x := espSA.ESP()
	overhead := header.IPv4MinLen
	if v6 {
		overhead = header.IPv6Len
	}
	if _, ok := espSA.Encap(); ok {
		overhead += header.UDPLen
	}
	align := max(x.BlockLen(), 4)
	overhead += header.ESPHeaderLen + x.IVLen() + align - 1 + header.ESPTrailerLen + x.ICVLen()
	if ahSA != nil {
		overhead += ahLength(ahSA.AH().ICVLen(), v6)
	}
	room := e.cfg.MTU - overhead - n
	if room <= 0 {
		return 0
	}
	return min(rand.IntN(maxTFCPadding), room)
}
