package ipsec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/sabre-ipsec/sabre/pktbuf"
	"github.com/sabre-ipsec/sabre/xe"
)

// dropCase is a packet B drops for a common reason, and what the error
// must say.
type dropCase struct {
	name string
	code xe.Code
	want string // in the error text
	wire func(t testing.TB, ha, hb *host) []byte
}

func sealedWire(t testing.TB, ha *host) []byte {
	buf := testPacket{src: "10.1.0.5", dst: "10.2.0.9", sport: 1, dport: 2, payloadLen: 64}.build(t)
	if res, err := ha.e.Encapsulate(buf); res != SecureTunnel {
		t.Fatal(res, err)
	}
	return bytes.Clone(buf.Bytes())
}

var dropCases = []dropCase{
	{"unknown-spi", xe.BadESPSPI, "no inbound ESP SA for SPI 0xdeadbeef from 192.0.2.1 to 192.0.2.2", func(t testing.TB, ha, hb *host) []byte {
		w := sealedWire(t, ha)
		binary.BigEndian.PutUint32(w[20:], 0xdeadbeef)
		return w
	}},
	{"bad-icv", xe.ESPDigestMismatch, "ICV mismatch for SPI 0x00001000, sequence number 1", func(t testing.TB, ha, hb *host) []byte {
		w := sealedWire(t, ha)
		w[len(w)-1] ^= 1
		return w
	}},
	{"replay", xe.BadSequenceNumber, "sequence number 1: duplicate", func(t testing.TB, ha, hb *host) []byte {
		w := sealedWire(t, ha)
		if res, err := hb.e.Decapsulate(wrap(w)); res != SecureTunnel {
			t.Fatal(res, err)
		}
		return w
	}},
	{"malformed", xe.MalformedPacket, "IPv4 header invalid or truncated (12 bytes)", func(t testing.TB, ha, hb *host) []byte {
		return sealedWire(t, ha)[:12]
	}},
	{"truncated-esp", xe.MalformedPacket, "ESP header truncated: 4 bytes", func(t testing.TB, ha, hb *host) []byte {
		w := sealedWire(t, ha)[:24]
		binary.BigEndian.PutUint16(w[2:], 24)
		binary.BigEndian.PutUint16(w[10:], 0)
		binary.BigEndian.PutUint16(w[10:], ^ipv4Checksum(w[:20]))
		return w
	}},
}

func ipv4Checksum(h []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(h); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return uint16(sum)
}

// TestDropAllocatesNothing: dropping a packet for the common reasons
// allocates nothing (a flood of garbage must not become GC load), and the
// error still names the reason with its values and matches errors.Is.
func TestDropAllocatesNothing(t *testing.T) {
	for _, tc := range dropCases {
		t.Run(tc.name, func(t *testing.T) {
			ha, hb := newPair(t, geometries[0].config(espAlgos[0]))
			w := tc.wire(t, ha, hb)
			buf := pktbuf.New(pktbuf.DefaultHeadroom, len(w), pktbuf.DefaultTailroom)
			var res Result
			var err error
			before := hb.e.Stats().Dropped(tc.code)
			allocs := testing.AllocsPerRun(200, func() {
				buf.Reset(buf.Storage(), pktbuf.DefaultHeadroom, len(w))
				copy(buf.Bytes(), w)
				res, err = hb.e.Decapsulate(buf)
			})
			if res != Drop || !errors.Is(err, tc.code) {
				t.Fatalf("Decapsulate = %v, %v; want a drop for %s", res, err, tc.code.Name())
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), tc.code.Name()+": ") {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if n := hb.e.Stats().Dropped(tc.code) - before; n != 201 {
				t.Errorf("%s counted %d times for 201 drops", tc.code.Name(), n)
			}
			if allocs != 0 {
				t.Errorf("dropping for %s allocates %v times per packet", tc.code.Name(), allocs)
			}
		})
	}
}

// BenchmarkDropUnknownSPI drops ESP packets with an SPI the SAD does not
// hold: the cost of a flood of garbage. It must report 0 allocs/op.
func BenchmarkDropUnknownSPI(b *testing.B) {
	ha, hb := newPair(b, geometries[0].config(espAlgos[0]))
	w := dropCases[0].wire(b, ha, hb)
	buf := pktbuf.New(pktbuf.DefaultHeadroom, len(w), pktbuf.DefaultTailroom)
	b.SetBytes(int64(len(w)))
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset(buf.Storage(), pktbuf.DefaultHeadroom, len(w))
		copy(buf.Bytes(), w)
		if res, _ := hb.e.Decapsulate(buf); res != Drop {
			b.Fatal(res)
		}
	}
}

// TestAHBadICVAllocatesNothing is TestDropAllocatesNothing for AH.
func TestAHBadICVAllocatesNothing(t *testing.T) {
	ha, hb := ahTransportPair(t, geometries[4])
	buf := testPacket{src: "192.0.2.1", dst: "192.0.2.2", sport: 1, dport: 2, payloadLen: 64}.build(t)
	if res, err := ha.e.Encapsulate(buf); res != SecureTransport {
		t.Fatal(res, err)
	}
	w := bytes.Clone(buf.Bytes())
	w[len(w)-1] ^= 1 // the payload, covered by the ICV
	var res Result
	var err error
	allocs := testing.AllocsPerRun(200, func() {
		buf.Reset(buf.Storage(), pktbuf.DefaultHeadroom, len(w))
		copy(buf.Bytes(), w)
		res, err = hb.e.Decapsulate(buf)
	})
	if res != Drop || !errors.Is(err, xe.AHDigestMismatch) {
		t.Fatalf("Decapsulate = %v, %v; want a drop for XE_AH_DIGEST_MISMATCH", res, err)
	}
	if want := "ICV mismatch for SPI 0x00001001, sequence number 1"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	if allocs != 0 {
		t.Errorf("dropping for a bad AH ICV allocates %v times per packet", allocs)
	}
}

// TestStackBufferStaysOnStack: a caller's Buffer on its stack (as the
// gVisor port keeps one) stays there although a drop's error points into
// it: a Buffer that escaped would be one allocation per packet.
func TestStackBufferStaysOnStack(t *testing.T) {
	ha, hb := newPair(t, geometries[0].config(espAlgos[0]))
	good := sealedWire(t, ha)
	bad := bytes.Clone(good)
	binary.BigEndian.PutUint32(bad[20:], 0xdeadbeef)
	storage := make([]byte, pktbuf.DefaultHeadroom+len(good)+pktbuf.DefaultTailroom)
	for _, w := range [][]byte{bad, good} {
		var res Result
		allocs := testing.AllocsPerRun(100, func() {
			var b pktbuf.Buffer
			b.Reset(storage, pktbuf.DefaultHeadroom, len(w))
			copy(b.Bytes(), w)
			res, _ = hb.e.Decapsulate(&b)
			b.Reset(storage, pktbuf.DefaultHeadroom, len(w))
			copy(b.Bytes(), w)
			ha.e.Encapsulate(&b) // the outer packet meets no policy of A
		})
		if allocs != 0 {
			t.Errorf("result %v: %v allocations per packet with the Buffer on the caller's stack", res, allocs)
		}
	}
}
