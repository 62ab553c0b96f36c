package ipsec

import (
	"bytes"
	"testing"

	"github.com/sabre-ipsec/sabre/spd"
	"github.com/sabre-ipsec/sabre/xe"
)

// fuzzReceivers are engines with fixed keys for every geometry and a few
// algorithms; the seeds are packets their peers really sent, so mutations
// reach deep into ESP, AH, NAT-T and policy processing.
func fuzzSetup(f *testing.F) []*host {
	var receivers []*host
	for _, g := range geometries {
		for _, a := range []algo{espAlgos[0], espAlgos[6]} {
			for _, encap := range []bool{false, true} {
				c := g.config(a)
				c.encap = encap
				c.flags |= spd.FlagCheckESPPad
				ha, hb := newPair(f, c)
				for _, n := range []int{0, 40, 300} {
					b := testPacket{src: g.inSrc, dst: g.inDr, sport: 7, dport: 9, payloadLen: n}.build(f)
					if _, err := ha.e.Encapsulate(b); err != nil {
						f.Fatal(err)
					}
					f.Add(bytes.Clone(b.Bytes()))
				}
				receivers = append(receivers, hb)
			}
		}
		c := g.config(algo{})
		c.flags = spd.FlagProtoAH | spd.FlagCheckReplay
		c.ahInteg, c.ahKeyLen = 12, 32
		ha, hb := newPair(f, c)
		b := testPacket{src: g.inSrc, dst: g.inDr, sport: 7, dport: 9, payloadLen: 20}.build(f)
		ha.e.Encapsulate(b)
		f.Add(bytes.Clone(b.Bytes()))
		receivers = append(receivers, hb)
	}
	return receivers
}

// FuzzDecapsulate feeds arbitrary packets to Decapsulate: it must never
// panic, every drop must be counted once with an error, and anything it
// accepts must be a well-formed IP packet.
func FuzzDecapsulate(f *testing.F) {
	receivers := fuzzSetup(f)
	f.Fuzz(func(t *testing.T, pkt []byte) {
		for _, h := range receivers {
			before := totalDrops(h.e)
			res, err := h.e.Decapsulate(wrap(pkt))
			dropped := totalDrops(h.e) - before
			switch res {
			case Drop:
				if err != nil && dropped != 1 {
					t.Fatalf("drop counted %d times: %v", dropped, err)
				}
			case SecureTunnel, SecureTransport, Bypass, Pending, Consumed:
				if err != nil || dropped != 0 {
					t.Fatalf("%v with error %v, %d drops", res, err, dropped)
				}
			default:
				t.Fatalf("result %v", res)
			}
		}
	})
}

// FuzzEncapsulate feeds arbitrary packets to Encapsulate; whatever it
// secures must come back out of the peer unchanged.
func FuzzEncapsulate(f *testing.F) {
	g := geometries[0]
	ha, hb := newPair(f, g.config(espAlgos[0]))
	for _, n := range []int{0, 10, 100} {
		f.Add(testPacket{src: g.inSrc, dst: g.inDr, sport: 7, dport: 9, payloadLen: n}.build(f).Bytes())
	}
	f.Fuzz(func(t *testing.T, pkt []byte) {
		b := wrap(pkt)
		res, err := ha.e.Encapsulate(b)
		if res != SecureTunnel {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		var info ipInfo
		if !validIP(pkt, &info, new(xe.Drop)) {
			t.Fatal("secured a packet that does not parse")
		}
		want := pkt[:info.total]
		if res, err := hb.e.Decapsulate(b); res != SecureTunnel || !bytes.Equal(b.Bytes(), want) {
			t.Fatalf("round trip: %v %v\n got %x\nwant %x", res, err, b.Bytes(), want)
		}
	})
}
