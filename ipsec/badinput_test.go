package ipsec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/google/gopacket/layers"

	"github.com/sabre-ipsec/sabre/header"
	"github.com/sabre-ipsec/sabre/pktbuf"
	"github.com/sabre-ipsec/sabre/sad"
	"github.com/sabre-ipsec/sabre/spd"
	"github.com/sabre-ipsec/sabre/suite"
	"github.com/sabre-ipsec/sabre/xe"
)

// totalDrops sums every per-reason drop counter.
func totalDrops(e *Engine) uint64 {
	var n uint64
	for i := range e.stats.Drops {
		n += e.stats.Drops[i].Load()
	}
	return n
}

// expectDrop feeds pkt to Decapsulate and checks it is dropped with code
// (any code when code is OK) and counted exactly once.
func expectDrop(t *testing.T, e *Engine, pkt []byte, code xe.Code) {
	t.Helper()
	before := totalDrops(e)
	res, err := e.Decapsulate(wrap(pkt))
	if res != Drop || err == nil {
		t.Fatalf("packet %x accepted: %v, %v", pkt, res, err)
	}
	if code != xe.OK && !errors.Is(err, code) {
		t.Fatalf("dropped with %v, want %s", err, code.Name())
	}
	if got := totalDrops(e) - before; got != 1 {
		t.Fatalf("drop counted %d times", got)
	}
}

func TestTruncatedAtEveryLength(t *testing.T) {
	for _, g := range geometries {
		for _, a := range []algo{espAlgos[0], espAlgos[6]} {
			t.Run(g.name+"/"+a.name, func(t *testing.T) {
				ha, hb := newPair(t, g.config(a))
				buf := testPacket{src: g.inSrc, dst: g.inDr, sport: 1, dport: 2, payloadLen: 60}.build(t)
				if _, err := ha.e.Encapsulate(buf); err != nil {
					t.Fatal(err)
				}
				wire := bytes.Clone(buf.Bytes())
				for n := 0; n < len(wire); n++ {
					// As cut by a broken link: the length field still claims more.
					expectDrop(t, hb.e, bytes.Clone(wire[:n]), xe.OK)
					// As cut consistently: the IP length says n, so the ESP
					// parser sees the short packet.
					if n >= 40 || n >= 20 && wire[0]>>4 == 4 {
						cut := bytes.Clone(wire[:n])
						if cut[0]>>4 == 4 {
							header.IPv4(cut).SetTotalLength(n)
							header.IPv4(cut).UpdateChecksum()
						} else {
							header.IPv6(cut).SetPayloadLength(n - header.IPv6Len)
						}
						expectDrop(t, hb.e, cut, xe.OK)
					}
				}
			})
		}
	}
}

func TestWrongSPI(t *testing.T) {
	ha, hb := newPair(t, geometries[0].config(espAlgos[0]))
	buf := testPacket{src: "10.1.0.5", dst: "10.2.0.9", sport: 1, dport: 2, payloadLen: 10}.build(t)
	ha.e.Encapsulate(buf)
	wire := bytes.Clone(buf.Bytes())
	binary.BigEndian.PutUint32(wire[20:], 0xdeadbeef)
	expectDrop(t, hb.e, wire, xe.BadESPSPI)
}

func TestReplayBeforeWindow(t *testing.T) {
	ha, hb := newPair(t, geometries[0].config(espAlgos[0]))
	var wires [][]byte
	for range 100 {
		buf := testPacket{src: "10.1.0.5", dst: "10.2.0.9", sport: 1, dport: 2, payloadLen: 10}.build(t)
		ha.e.Encapsulate(buf)
		wires = append(wires, bytes.Clone(buf.Bytes()))
	}
	if res, err := hb.e.Decapsulate(wrap(wires[99])); res != SecureTunnel {
		t.Fatal(res, err)
	}
	// Sequence 1 is 99 behind 100, outside the 64-packet window.
	expectDrop(t, hb.e, wires[0], xe.BadSequenceNumber)
	// Sequence 50 is inside it and new.
	if res, err := hb.e.Decapsulate(wrap(wires[49])); res != SecureTunnel {
		t.Fatal(res, err)
	}
	expectDrop(t, hb.e, wires[49], xe.BadSequenceNumber)
}

// sealRaw builds an ESP tunnel packet by hand, with the given padding
// bytes, under A's outbound key, so that its ICV is valid.
func sealRaw(t *testing.T, seq uint32, pad []byte, padLen byte, inner []byte) []byte {
	t.Helper()
	x, err := suite.NewESP(suite.ESPConfig{Encr: suite.EncrAESCBC, EncrKey: key(32, 0x10), Integ: suite.IntegHMACSHA256128, IntegKey: key(32, 0x11)})
	if err != nil {
		t.Fatal(err)
	}
	esp := make([]byte, 0, 2048)
	esp = binary.BigEndian.AppendUint32(esp, 0x1000) // A's outbound SPI
	esp = binary.BigEndian.AppendUint32(esp, seq)
	esp = append(esp, make([]byte, x.IVLen())...)
	esp = append(esp, inner...)
	esp = append(esp, pad...)
	esp = append(esp, padLen, header.ProtoIPv4)
	esp = append(esp, make([]byte, x.ICVLen())...)
	x.FillIV(esp[8:8+x.IVLen()], uint64(seq))
	x.Seal(esp, uint64(seq), false)
	b := pktbuf.New(64, len(esp), 0)
	copy(b.Bytes(), esp)
	o := outerHeader{src: mustAddr("192.0.2.1"), dst: mustAddr("192.0.2.2"), proto: header.ProtoESP, ttl: 64}
	(&Engine{}).pushOuter(b, &o)
	return b.Bytes()
}

func TestBadPadding(t *testing.T) {
	c := geometries[0].config(espAlgos[6]) // aes256cbc-sha256, keys 0x10/0x11 outbound at A
	c.flags |= spd.FlagCheckESPPad
	_, hb := newPair(t, c)
	inner := testPacket{src: "10.1.0.5", dst: "10.2.0.9", sport: 1, dport: 2, payloadLen: 10}.build(t).Bytes() // 38 bytes
	// 38 + 8 pad + 2 = 48: a whole number of blocks either way.
	good := sealRaw(t, 1, []byte{1, 2, 3, 4, 5, 6, 7, 8}, 8, inner)
	bad := sealRaw(t, 2, []byte{1, 2, 3, 4, 5, 6, 9, 8}, 8, inner)
	expectDrop(t, hb.e, bad, xe.BadPadData)
	if res, err := hb.e.Decapsulate(wrap(good)); res != SecureTunnel {
		t.Fatalf("good padding: %v %v", res, err)
	}
	// A pad length beyond the payload.
	long := sealRaw(t, 3, []byte{1, 2, 3, 4, 5, 6, 7, 8}, 200, inner)
	expectDrop(t, hb.e, long, xe.BadPadData)
}

func TestUnexpectedSecuredPacket(t *testing.T) {
	c := geometries[0].config(espAlgos[0])
	// Both sides also bypass 10.2/24 -> 10.1/24 at the highest priority.
	// At A that is inbound traffic only; at B it is the mirror of what A
	// sends, so B finds a protected packet for a BYPASS policy.
	c.extraPolices = func(db *spd.DB) {
		if _, err := db.AddBypassPolicy("10.2.0.0/24", "10.1.0.0/24", 0, spd.PriorityHighest); err != nil {
			t.Fatal(err)
		}
	}
	ha, hb := newPair(t, c)
	buf := testPacket{src: "10.1.0.5", dst: "10.2.0.9", sport: 1, dport: 2, payloadLen: 10}.build(t)
	if res, err := ha.e.Encapsulate(buf); res != SecureTunnel {
		t.Fatal(res, err)
	}
	expectDrop(t, hb.e, bytes.Clone(buf.Bytes()), xe.InboundUnexpectedSecuredPacket)
}

func TestCleartextWhereSecureRequired(t *testing.T) {
	_, hb := newPair(t, geometries[4].config(espAlgos[0])) // transport 192.0.2.1 <-> .2
	p := testPacket{src: "192.0.2.1", dst: "192.0.2.2", proto: layers.IPProtocolTCP, sport: 1, dport: 2, payloadLen: 10}.build(t)
	expectDrop(t, hb.e, bytes.Clone(p.Bytes()), xe.InboundExpectedSecurePacket)
}

// TestAcquireQueue: packets for a SECURE policy without SAs raise one
// ACQUIRE, wait in a bounded queue, and leave when the SAs are added.
func TestAcquireQueue(t *testing.T) {
	c := geometries[0].config(espAlgos[0])
	ha, hb := newPair(t, c)
	// A third engine with A's policy but no SAs yet.
	db := spd.NewDB()
	p := *ha.e.SPD().Get(ha.policyID)
	p.ID = 0
	id, err := db.Add(p)
	if err != nil {
		t.Fatal(err)
	}
	var acquired []Acquire
	var sent []*pktbuf.Buffer
	e := New(db, sad.NewDB(), Config{Output: func(b *pktbuf.Buffer) { sent = append(sent, b) }})
	e.SetAcquireHandler(func(a Acquire) { acquired = append(acquired, a) })
	for i := range AcquireQueueLen + 3 {
		res, err := e.Encapsulate(testPacket{src: "10.1.0.5", dst: "10.2.0.9", sport: uint16(i), dport: 2}.build(t))
		if i < AcquireQueueLen && (res != Pending || err != nil) {
			t.Fatalf("packet %d: %v %v, want it queued", i, res, err)
		}
		if i >= AcquireQueueLen && (res != Drop || !errors.Is(err, xe.KeynegInProgress)) {
			t.Fatalf("packet %d past the queue: %v %v", i, res, err)
		}
	}
	if len(acquired) != 1 || acquired[0].Policy.ID != id || acquired[0].Key.SrcPort != 0 {
		t.Fatalf("acquires %+v", acquired)
	}
	if e.Stats().Dropped(xe.KeynegInProgress) != 3 {
		t.Fatalf("drops %v", e.Stats().Snapshot().Drops)
	}
	// The key manager delivers the SAs (A's keys): the queue drains.
	m := ManualSA{Encr: c.a.encr, EncrKeyOut: key(c.a.encrLen, 0x10), EncrKeyIn: key(c.a.encrLen, 0x20),
		ESPSPIOut: 0x1000, ESPSPIIn: 0x2000, Local: mustAddr(c.local)}
	if err := e.AddManualSA(id, m); err != nil {
		t.Fatal(err)
	}
	if len(sent) != AcquireQueueLen {
		t.Fatalf("%d queued packets sent, want %d", len(sent), AcquireQueueLen)
	}
	for i, b := range sent {
		if res, err := hb.e.Decapsulate(b); res != SecureTunnel {
			t.Fatalf("queued packet %d at the peer: %v %v", i, res, err)
		}
	}
	// A failed negotiation drops the queue; the next packet acquires anew.
	e2 := New(db, sad.NewDB(), Config{})
	e2.SetAcquireHandler(func(a Acquire) { acquired = append(acquired, a) })
	e2.Encapsulate(testPacket{src: "10.1.0.5", dst: "10.2.0.9", sport: 1, dport: 2}.build(t))
	if err := e2.AcquireFailed(id); err != nil {
		t.Fatal(err)
	}
	if e2.Stats().Dropped(xe.KeynegInProgress) != 1 {
		t.Fatalf("ACQUIRE_FAIL did not drop the queued packet: %v", e2.Stats().Snapshot().Drops)
	}
	e2.Encapsulate(testPacket{src: "10.1.0.5", dst: "10.2.0.9", sport: 1, dport: 2}.build(t))
	if len(acquired) != 3 {
		t.Fatalf("%d acquires, want a new one after the failure", len(acquired))
	}
}

func TestNoPolicyIsDropped(t *testing.T) {
	e := New(spd.NewDB(), sad.NewDB(), Config{})
	p := testPacket{src: "10.1.0.5", dst: "10.2.0.9", sport: 1, dport: 2}.build(t)
	if res, err := e.Encapsulate(p); res != Drop || !errors.Is(err, xe.PolicyDrop) {
		t.Fatalf("RFC 4301 default: got %v, %v", res, err)
	}
	e = New(spd.NewDB(), sad.NewDB(), Config{DefaultBypass: true})
	if res, err := e.Encapsulate(p); res != Bypass || err != nil {
		t.Fatalf("configured default bypass: got %v, %v", res, err)
	}
}
