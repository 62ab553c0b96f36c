package ipsec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/gopacket/layers"

	"github.com/sabre-ipsec/sabre/header"
	"github.com/sabre-ipsec/sabre/pktbuf"
	"github.com/sabre-ipsec/sabre/sad"
	"github.com/sabre-ipsec/sabre/spd"
	"github.com/sabre-ipsec/sabre/xe"
)

// TestParallelEncapsulateUniqueSequence encapsulates on one SA from many
// goroutines: no sequence number may repeat (run with -race).
func TestParallelEncapsulateUniqueSequence(t *testing.T) {
	c := geometries[0].config(espAlgos[0])
	c.window = 4096
	ha, hb := newPair(t, c)
	const workers, each = 8, 300
	seqs := make(chan uint32, workers*each)
	wires := make(chan []byte, workers*each)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				b := testPacket{src: "10.1.0.5", dst: "10.2.0.9", sport: 1, dport: 2, payloadLen: 50}.build(t)
				if res, err := ha.e.Encapsulate(b); res != SecureTunnel {
					t.Error(res, err)
					return
				}
				pkt := b.Bytes()
				seqs <- binary.BigEndian.Uint32(pkt[24:])
				wires <- bytes.Clone(pkt)
			}
		}()
	}
	wg.Wait()
	close(seqs)
	close(wires)
	seen := map[uint32]bool{}
	for s := range seqs {
		if seen[s] {
			t.Fatalf("sequence number %d used twice", s)
		}
		seen[s] = true
	}
	if len(seen) != workers*each {
		t.Fatalf("%d sequence numbers for %d packets", len(seen), workers*each)
	}
	// Decapsulate them in parallel too; every one is accepted exactly once
	// although they arrive out of order (4096 is within no window, so
	// feed them in sequence order to the receiver's workers).
	var all [][]byte
	for w := range wires {
		all = append(all, w)
	}
	slices.SortFunc(all, func(a, b []byte) int {
		return int(binary.BigEndian.Uint32(a[24:])) - int(binary.BigEndian.Uint32(b[24:]))
	})
	var accepted atomic.Int64
	work := make(chan []byte)
	var rg sync.WaitGroup
	for range workers {
		rg.Add(1)
		go func() {
			defer rg.Done()
			for w := range work {
				if res, _ := hb.e.Decapsulate(wrap(w)); res == SecureTunnel {
					accepted.Add(1)
				}
			}
		}()
	}
	for _, w := range all {
		work <- w
		work <- w // a duplicate racing its original
	}
	close(work)
	rg.Wait()
	// No duplicate may pass; a packet may only be lost if a worker fell
	// more than the 4096-packet window behind the others.
	if n := accepted.Load(); n > workers*each || n < workers*each/2 {
		t.Fatalf("accepted %d of %d packets sent twice each", n, workers*each)
	}
}

func TestTFCPadding(t *testing.T) {
	c := geometries[0].config(espAlgos[0])
	c.flags |= spd.FlagTxTFCPadding
	ha, hb := newPair(t, c)
	sizes := map[int]bool{}
	for range 50 {
		b := testPacket{src: "10.1.0.5", dst: "10.2.0.9", sport: 1, dport: 2, payloadLen: 100}.build(t)
		orig := bytes.Clone(b.Bytes())
		if res, err := ha.e.Encapsulate(b); res != SecureTunnel {
			t.Fatal(res, err)
		}
		sizes[b.Len()] = true
		if res, err := hb.e.Decapsulate(b); res != SecureTunnel || !bytes.Equal(b.Bytes(), orig) {
			t.Fatalf("TFC-padded packet not recovered: %v %v", res, err)
		}
	}
	if len(sizes) < 10 {
		t.Fatalf("only %d distinct outer sizes over 50 padded packets", len(sizes))
	}
	// Near the MTU the padding shrinks so the packet never exceeds it.
	for range 50 {
		b := testPacket{src: "10.1.0.5", dst: "10.2.0.9", sport: 1, dport: 2, payloadLen: 1400}.build(t)
		ha.e.Encapsulate(b)
		if b.Len() > 1500 {
			t.Fatalf("TFC padding made a %d-byte packet, MTU 1500", b.Len())
		}
	}
	if s := ha.e.Stats(); s.TFCPadded.Load() == 0 || s.TFCBytes.Load() == 0 {
		t.Fatal("TFC counters not updated")
	}
}

func TestDummyPackets(t *testing.T) {
	c := geometries[0].config(espAlgos[0])
	c.flags |= spd.FlagTxDummyPkt
	ha, hb := newPair(t, c)
	var mu sync.Mutex
	var out []*pktbuf.Buffer
	ha.e.cfg.Output = func(b *pktbuf.Buffer) { mu.Lock(); out = append(out, b); mu.Unlock() }
	for range 5 {
		if err := ha.e.SendDummy(ha.e.SPD().Get(ha.policyID)); err != nil {
			t.Fatal(err)
		}
	}
	for _, b := range out {
		if res, err := hb.e.Decapsulate(b); res != Drop || err != nil {
			t.Fatalf("dummy packet: %v, %v; want a silent drop", res, err)
		}
	}
	if got := hb.e.Stats().DummyRx.Load(); got != 5 {
		t.Fatalf("DummyRx = %d", got)
	}
	sa := hb.e.SAD().LookupInbound(0x1000, sad.ESP, mustAddr("192.0.2.2"))
	if sa.Stats().DummyRx != 5 {
		t.Fatalf("SA DummyRx = %d", sa.Stats().DummyRx)
	}
	// The timer sends on its own.
	ha.e.dummy.stop(ha.policyID)
	ha.e.dummy.interval = func() time.Duration { return time.Millisecond }
	ha.e.dummy.start(ha.policyID)
	deadline := time.Now().Add(5 * time.Second)
	for ha.e.Stats().DummyTx.Load() < 8 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if ha.e.Stats().DummyTx.Load() < 8 {
		t.Fatal("dummy timer did not fire")
	}
}

func TestECNAndDFThroughTunnel(t *testing.T) {
	for _, tt := range []struct {
		flags     spd.Flags
		innerTOS  uint8
		innerDF   bool
		wantOuter uint8
		wantDF    bool
	}{
		{0, 0xb8 | ecnCE, true, 0xb8 | ecnECT0, false},
		{spd.FlagFullECN | spd.FlagDFCopy, 0xb8 | ecnCE, true, 0xb8 | ecnCE, true},
		{spd.FlagDFSet, ecnECT1, false, ecnECT1, true},
		{spd.FlagDFCopy, 0, false, 0, false},
	} {
		c := geometries[0].config(espAlgos[0])
		c.flags |= tt.flags
		ha, hb := newPair(t, c)
		b := testPacket{src: "10.1.0.5", dst: "10.2.0.9", sport: 1, dport: 2, tos: tt.innerTOS, df: tt.innerDF}.build(t)
		orig := bytes.Clone(b.Bytes())
		ha.e.Encapsulate(b)
		outer := header.IPv4(b.Bytes())
		if outer.TOS() != tt.wantOuter || outer.DF() != tt.wantDF {
			t.Errorf("flags %v: outer TOS %#x DF %v, want %#x %v", tt.flags, outer.TOS(), outer.DF(), tt.wantOuter, tt.wantDF)
		}
		// Congestion on the way: the outer header gets CE.
		outer.SetTOS(outer.TOS() | ecnCE)
		outer.UpdateChecksum()
		if res, err := hb.e.Decapsulate(b); res != SecureTunnel {
			t.Fatal(res, err)
		}
		inner := header.IPv4(b.Bytes())
		if tt.innerTOS&3 != ecnNotECT && inner.TOS()&3 != ecnCE {
			t.Errorf("flags %v: CE not propagated to the inner header (TOS %#x)", tt.flags, inner.TOS())
		}
		if tt.innerTOS&3 == ecnNotECT && !bytes.Equal(b.Bytes(), orig) {
			t.Errorf("flags %v: Not-ECT inner packet changed", tt.flags)
		}
	}
}

// TestOuterFragmentsReassembled hands Decapsulate the outer fragments of
// an ESP packet out of order; the last one yields the inner packet.
func TestOuterFragmentsReassembled(t *testing.T) {
	ha, hb := newPair(t, geometries[0].config(espAlgos[0]))
	b := testPacket{src: "10.1.0.5", dst: "10.2.0.9", sport: 1, dport: 2, payloadLen: 1000}.build(t)
	orig := bytes.Clone(b.Bytes())
	ha.e.Encapsulate(b)
	wire := bytes.Clone(b.Bytes())
	const hl = header.IPv4MinLen
	payload := wire[hl:]
	var frags [][]byte
	for off := 0; off < len(payload); off += 400 {
		end := min(off+400, len(payload))
		f := append(bytes.Clone(wire[:hl]), payload[off:end]...)
		h := header.IPv4(f)
		fo := uint16(off / 8)
		if end < len(payload) {
			fo |= header.IPv4FlagMF
		}
		h.SetFlagsFragmentOffset(fo)
		h.SetTotalLength(len(f))
		h.UpdateChecksum()
		frags = append(frags, f)
	}
	for _, i := range []int{2, 0} {
		if res, err := hb.e.Decapsulate(wrap(frags[i])); res != Pending || err != nil {
			t.Fatalf("fragment %d: %v %v", i, res, err)
		}
	}
	last := wrap(frags[1])
	if res, err := hb.e.Decapsulate(last); res != SecureTunnel || !bytes.Equal(last.Bytes(), orig) {
		t.Fatalf("reassembled: %v %v", res, err)
	}
	if s := hb.e.Stats(); s.Fragments.Load() != 3 || s.Reassembled.Load() != 1 {
		t.Fatalf("fragment counters %d %d", s.Fragments.Load(), s.Reassembled.Load())
	}
}

// TestHardLifetimeStopsSA: the packet past a hard limit is refused, the SA
// is deleted, and traffic then waits for a new SA (ACQUIRE).
func TestHardLifetimeStopsSA(t *testing.T) {
	c := geometries[0].config(espAlgos[0])
	c.hard = sad.Lifetime{Packets: 3}
	c.soft = sad.Lifetime{Packets: 2}
	ha, _ := newPair(t, c)
	var results []Result
	var errs []error
	for range 5 {
		b := testPacket{src: "10.1.0.5", dst: "10.2.0.9", sport: 1, dport: 2, payloadLen: 10, proto: layers.IPProtocolUDP}.build(t)
		res, err := ha.e.Encapsulate(b)
		results, errs = append(results, res), append(errs, err)
	}
	for i := range 3 {
		if results[i] != SecureTunnel {
			t.Fatalf("packet %d: %v %v", i, results[i], errs[i])
		}
	}
	if results[3] != Drop || !errors.Is(errs[3], xe.SAExpired) {
		t.Fatalf("packet past the hard limit: %v %v", results[3], errs[3])
	}
	if results[4] != Pending || ha.e.Stats().AcquireRequested.Load() != 1 {
		t.Fatalf("after expiry: %v %v, %d acquires", results[4], errs[4], ha.e.Stats().AcquireRequested.Load())
	}
	if sess := ha.e.SAD().Session(ha.policyID); sess.OutboundESP() != nil {
		t.Fatal("hard-expired SA still in the SAD")
	}
}
