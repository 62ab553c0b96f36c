package sad

import (
	"errors"
	"math"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sabre-ipsec/sabre/suite"
	"github.com/sabre-ipsec/sabre/xe"
)

var (
	hostA = netip.MustParseAddr("192.0.2.1")
	hostB = netip.MustParseAddr("192.0.2.2")
	host6 = netip.MustParseAddr("2001:db8::1")
)

// testConfig is an inbound ESP tunnel SA on a fake transform.
func testConfig(spi uint32) Config {
	return Config{
		SPI:          spi,
		Protocol:     ESP,
		Direction:    Inbound,
		Mode:         Tunnel,
		Local:        hostA,
		Remote:       hostB,
		PolicyID:     7,
		ESPTransform: &fakeESP{},
		ReplayWindow: 64,
	}
}

func newSA(t testing.TB, cfg Config) *SA {
	t.Helper()
	sa, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	return sa
}

func outbound(spi uint32) Config {
	c := testConfig(spi)
	c.Direction = Outbound
	c.ReplayWindow = 0
	return c
}

func ahConfig(spi uint32) Config {
	c := testConfig(spi)
	c.Protocol = AH
	c.ESPTransform = nil
	c.AHTransform = &fakeAH{}
	return c
}

func TestNewValidates(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		code xe.Code
		msg  string
	}{
		{"SPI 0", func(c *Config) { c.SPI = 0 }, xe.BadESPSPI, "reserved"},
		{"SPI 255", func(c *Config) { c.SPI = 255 }, xe.BadESPSPI, "SPI 255"},
		{"AH SPI 1", func(c *Config) { *c = ahConfig(1) }, xe.BadAHSPI, "AH SPI 1"},
		{"protocol TCP", func(c *Config) { c.Protocol = 6 }, xe.BadParam, "protocol 6"},
		{"no direction", func(c *Config) { c.Direction = 0 }, xe.BadParam, "direction 0"},
		{"no mode", func(c *Config) { c.Mode = 0 }, xe.BadParam, "mode 0"},
		{"no local", func(c *Config) { c.Local = netip.Addr{} }, xe.BadParam, "both addresses"},
		{"mixed families", func(c *Config) { c.Remote = host6 }, xe.BadParam, "different families"},
		{"window too big", func(c *Config) { c.ReplayWindow = MaxReplayWindow + 1 }, xe.BadParam, "replay window 65537"},
		{"negative window", func(c *Config) { c.ReplayWindow = -1 }, xe.BadParam, "replay window -1"},
		{"soft > hard packets", func(c *Config) {
			c.SoftLifetime.Packets, c.HardLifetime.Packets = 10, 5
		}, xe.BadParam, "soft lifetime 10 packets > hard lifetime 5 packets"},
		{"soft > hard time", func(c *Config) {
			c.SoftLifetime.Time, c.HardLifetime.Time = 2e9, 1e9
		}, xe.BadParam, "soft lifetime 2s > hard lifetime 1s"},
		{"encap on AH", func(c *Config) { *c = ahConfig(0x1000); c.Encap = &UDPEncap{4500, 4500} }, xe.BadParam, "UDP encapsulation"},
		{"encap port 0", func(c *Config) { c.Encap = &UDPEncap{0, 4500} }, xe.BadPortNumber, "0->4500"},
		{"ESP without transform", func(c *Config) { c.ESPTransform = nil }, xe.UnknownAlgorithm, "no ESP transform"},
		{"ESP with AH transform", func(c *Config) { c.AHTransform = &fakeAH{} }, xe.BadParam, "has an AH transform"},
		{"ESP with AH key", func(c *Config) { c.AHKey = []byte{1} }, xe.BadParam, "has an AH transform"},
		{"ESP config and transform", func(c *Config) { c.ESP.Encr = suite.EncrAESGCM16 }, xe.BadParam, "both an ESP config"},
		{"AH with ESP transform", func(c *Config) { *c = ahConfig(0x1000); c.ESPTransform = &fakeESP{} }, xe.BadParam, "has an ESP transform"},
		{"AH config and transform", func(c *Config) { *c = ahConfig(0x1000); c.AHInteg = suite.IntegHMACSHA256128 }, xe.BadParam, "both an AH config"},
		{"AH without algorithm", func(c *Config) { *c = ahConfig(0x1000); c.AHTransform = nil }, xe.UnknownAlgorithm, "no integrity"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig(0x1000)
			tc.mod(&c)
			_, err := New(c)
			if !errors.Is(err, tc.code) {
				t.Fatalf("got %v, want %v", err, tc.code.Name())
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %q does not say %q", err, tc.msg)
			}
		})
	}
}

func TestNewAccessors(t *testing.T) {
	c := testConfig(0xc0ffee01)
	c.Local = netip.AddrFrom16(hostA.As16()) // IPv4-mapped: stored unmapped
	c.Encap = &UDPEncap{4500, 4501}
	c.ESN = true
	c.ReplayWindow = 100
	sa := newSA(t, c)
	c.Encap.SrcPort = 1 // the SA keeps its own copy
	if sa.SPI() != 0xc0ffee01 || sa.Protocol() != ESP || sa.Direction() != Inbound || sa.Mode() != Tunnel ||
		sa.Local() != hostA || sa.Remote() != hostB || sa.Dst() != hostA || sa.Src() != hostB ||
		sa.PolicyID() != 7 || !sa.ESN() || sa.State() != Mature || sa.ESP() == nil || sa.AH() != nil ||
		sa.Replay().Size() != 128 || sa.Algorithm() != "fake-esp" {
		t.Fatalf("accessors wrong: %v", sa)
	}
	if e, ok := sa.Encap(); !ok || e != (UDPEncap{4500, 4501}) {
		t.Fatalf("Encap = %v, %v", e, ok)
	}
	if got := sa.String(); got != "ESP inbound SA SPI 0xc0ffee01 192.0.2.2->192.0.2.1" {
		t.Fatalf("String = %q", got)
	}
	out := newSA(t, outbound(0x2000))
	if out.Dst() != hostB || out.Src() != hostA || out.Replay() != nil {
		t.Fatalf("outbound: dst %v src %v replay %v", out.Dst(), out.Src(), out.Replay())
	}
	if _, ok := out.Encap(); ok {
		t.Fatal("outbound has encap")
	}
	if _, err := out.CheckReplay(1); !errors.Is(err, xe.BadParam) {
		t.Fatalf("CheckReplay on outbound: %v", err)
	}
	ah := newSA(t, ahConfig(0x3000))
	if ah.AH() == nil || ah.ESP() != nil || ah.Algorithm() != "fake-ah" {
		t.Fatal("AH SA accessors")
	}
}

// TestNewBuildsSuiteTransform checks that a Config with algorithms and keys
// gets a real transform from package suite, and that the SA keeps no key.
func TestNewBuildsSuiteTransform(t *testing.T) {
	key := make([]byte, 20) // AES-128 key and 4-octet salt
	c := testConfig(0x1000)
	c.ESPTransform = nil
	c.ESP = suite.ESPConfig{Encr: suite.EncrAESGCM16, EncrKey: key}
	sa, err := New(c)
	if err != nil {
		t.Fatalf("New with AES-GCM: %v", err)
	}
	if sa.ESP() == nil || sa.cfg.ESP.EncrKey != nil {
		t.Fatal("no transform, or the SA kept the key")
	}
	sa.Close()

	c = ahConfig(0x1000)
	c.AHTransform = nil
	c.AHInteg, c.AHKey = suite.IntegHMACSHA256128, make([]byte, 32)
	ah, err := New(c)
	if err != nil {
		t.Fatalf("New with HMAC-SHA-256-128: %v", err)
	}
	if ah.AH() == nil || ah.cfg.AHKey != nil {
		t.Fatal("no AH transform, or the SA kept the key")
	}
	ah.Close()

	c.AHInteg = 200
	if _, err := New(c); err == nil {
		t.Fatal("unknown integrity algorithm accepted")
	}
}

func TestNextSequence(t *testing.T) {
	sa := newSA(t, outbound(0x1000))
	for want := uint64(1); want <= 100; want++ {
		if got, err := sa.NextSequence(); err != nil || got != want {
			t.Fatalf("NextSequence = %d, %v; want %d", got, err, want)
		}
	}
	if sa.Stats().Sequence != 100 {
		t.Fatalf("Stats().Sequence = %d", sa.Stats().Sequence)
	}
}

func TestNextSequenceConcurrent(t *testing.T) {
	sa := newSA(t, outbound(0x1000))
	const goroutines, each = 32, 5000
	got := make([][]uint64, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				n, err := sa.NextSequence()
				if err != nil {
					t.Error(err)
					return
				}
				got[g] = append(got[g], n)
			}
		}()
	}
	wg.Wait()
	seen := make(map[uint64]bool, goroutines*each)
	for _, ns := range got {
		for _, n := range ns {
			if seen[n] {
				t.Fatalf("sequence number %d handed out twice", n)
			}
			seen[n] = true
		}
	}
	for n := uint64(1); n <= goroutines*each; n++ {
		if !seen[n] {
			t.Fatalf("sequence number %d skipped", n)
		}
	}
}

func TestNextSequenceExhausted(t *testing.T) {
	for _, tc := range []struct {
		esn  bool
		last uint64
	}{{false, math.MaxUint32}, {true, math.MaxUint64}} {
		var events []Event
		db := NewDB(WithEventHandler(func(e Event) { events = append(events, e) }))
		c := outbound(0x1000)
		c.ESN = tc.esn
		sa := newSA(t, c)
		if err := db.Add(sa); err != nil {
			t.Fatal(err)
		}
		sa.seq.Store(tc.last - 2)
		for _, want := range []uint64{tc.last - 1, tc.last} {
			if got, err := sa.NextSequence(); err != nil || got != want {
				t.Fatalf("esn %v: NextSequence = %#x, %v; want %#x", tc.esn, got, err, want)
			}
		}
		for range 3 {
			if _, err := sa.NextSequence(); !errors.Is(err, xe.SAExpired) {
				t.Fatalf("esn %v: after %#x: got %v, want XE_SA_EXPIRED", tc.esn, tc.last, err)
			}
		}
		if sa.State() != Dying {
			t.Fatalf("state %v, want dying (marked for rekey)", sa.State())
		}
		if len(events) != 1 || events[0].Kind != SoftExpired || !strings.Contains(events[0].Reason, "sequence number") {
			t.Fatalf("events %v, want one SoftExpired", events)
		}
	}
}

func TestNextSequenceDead(t *testing.T) {
	sa := newSA(t, outbound(0x1000))
	sa.Close()
	if _, err := sa.NextSequence(); !errors.Is(err, xe.SAExpired) {
		t.Fatalf("NextSequence on a closed SA: %v", err)
	}
	if err := sa.Account(10); !errors.Is(err, xe.SAExpired) {
		t.Fatalf("Account on a closed SA: %v", err)
	}
}

func TestCloseZeroesKeysAfterLastRelease(t *testing.T) {
	f := &fakeESP{}
	c := testConfig(0x1000)
	c.ESPTransform = f
	sa := newSA(t, c)
	if !sa.Acquire() || !sa.Acquire() {
		t.Fatal("Acquire failed on a live SA")
	}
	sa.Close()
	if sa.Acquire() {
		t.Fatal("Acquire succeeded on a dead SA")
	}
	sa.Release()
	if f.closed.Load() {
		t.Fatal("keys zeroed while a packet still holds the SA")
	}
	sa.Release()
	if !f.closed.Load() {
		t.Fatal("keys not zeroed after the last Release")
	}
	sa.Close() // twice is harmless
}

func TestReplayCounters(t *testing.T) {
	sa := newSA(t, testConfig(0x1000))
	seq, err := sa.CheckReplay(5)
	if err != nil {
		t.Fatal(err)
	}
	if err := sa.CommitReplay(seq); err != nil {
		t.Fatal(err)
	}
	if _, err := sa.CheckReplay(5); err == nil {
		t.Fatal("duplicate accepted")
	}
	if err := sa.CommitReplay(5); err == nil {
		t.Fatal("duplicate committed")
	}
	st := sa.Stats()
	if st.ReplayDrops != 2 || st.Sequence != 5 {
		t.Fatalf("stats %+v: want 2 replay drops, sequence 5", st)
	}
}

func TestStatsSnapshot(t *testing.T) {
	sa := newSA(t, outbound(0x1000))
	if !sa.Stats().LastUsed.IsZero() || !sa.Stats().AddedAt.IsZero() {
		t.Fatal("unused SA has times")
	}
	sa.Account(100)
	sa.Account(50)
	sa.Counters.ICVFailures.Add(1)
	sa.Counters.DummyTx.Add(2)
	sa.Counters.DummyRx.Add(3)
	sa.Counters.TFCPadded.Add(4)
	sa.Counters.TFCBytes.Add(500)
	st := sa.Stats()
	want := Stats{State: Mature, Packets: 2, Bytes: 150, ICVFailures: 1, DummyTx: 2, DummyRx: 3, TFCPadded: 4, TFCBytes: 500}
	if since := time.Since(st.LastUsed); since < 0 || since > time.Minute {
		t.Fatalf("LastUsed %v is not now", st.LastUsed)
	}
	st.LastUsed = want.LastUsed
	if st != want {
		t.Fatalf("Stats = %+v, want %+v", st, want)
	}
}

func BenchmarkNextSequence(b *testing.B) {
	sa := newSA(b, outbound(0x1000))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := sa.NextSequence(); err != nil {
			b.Fatal(err)
		}
	}
	// Baseline: a bare atomic increment.
	var ctr atomic.Uint64
	reportBaseline(b, func(n int) {
		for range n {
			ctr.Add(1)
		}
	})
}

func BenchmarkNextSequenceParallel(b *testing.B) {
	c := outbound(0x1000)
	c.ESN = true
	sa := newSA(b, c)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := sa.NextSequence(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkAccount(b *testing.B) {
	c := outbound(0x1000)
	c.SoftLifetime = Lifetime{Bytes: math.MaxUint64 - 1, Packets: math.MaxUint64 - 1}
	c.HardLifetime = Lifetime{Bytes: math.MaxUint64, Packets: math.MaxUint64}
	sa := newSA(b, c)
	b.ReportAllocs()
	for b.Loop() {
		if err := sa.Account(1400); err != nil {
			b.Fatal(err)
		}
	}
}
