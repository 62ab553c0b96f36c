package sad

import (
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sabre-ipsec/sabre/xe"
)

// recorder collects a DB's events.
type recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *recorder) on(e Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recorder) take() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.events
	r.events = nil
	return e
}

func (r *recorder) kinds() []EventKind {
	var k []EventKind
	for _, e := range r.take() {
		k = append(k, e.Kind)
	}
	return k
}

var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func newTestDB(t testing.TB) (*DB, *ManualClock, *recorder) {
	clk := NewManualClock(epoch)
	rec := &recorder{}
	return NewDB(WithClock(clk), WithEventHandler(rec.on)), clk, rec
}

func addSA(t testing.TB, db *DB, cfg Config) *SA {
	t.Helper()
	sa := newSA(t, cfg)
	if err := db.Add(sa); err != nil {
		t.Fatalf("Add %v: %v", sa, err)
	}
	return sa
}

func TestLifetimeString(t *testing.T) {
	if s := (Lifetime{}).String(); s != "unlimited" {
		t.Fatal(s)
	}
	if s := (Lifetime{Bytes: 5, Packets: 6, Time: time.Hour}).String(); s != "5 bytes, 6 packets, 1h0m0s" {
		t.Fatal(s)
	}
}

func TestHardPacketLifetime(t *testing.T) {
	db, _, rec := newTestDB(t)
	f := &fakeESP{}
	c := testConfig(0x1000)
	c.ESPTransform = f
	c.SoftLifetime.Packets = 5
	c.HardLifetime.Packets = 10
	sa := addSA(t, db, c)
	for i := 1; i <= 10; i++ {
		if err := sa.Account(100); err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if i == 5 && sa.State() != Dying {
			t.Fatalf("after the soft limit: %v", sa.State())
		}
	}
	for range 3 {
		if err := sa.Account(100); !errors.Is(err, xe.SAExpired) {
			t.Fatalf("past the hard limit: %v, want XE_SA_EXPIRED", err)
		}
	}
	if got := rec.kinds(); !slices.Equal(got, []EventKind{SoftExpired, HardExpired}) {
		t.Fatalf("events %v, want [soft-expired hard-expired]", got)
	}
	if sa.State() != Dead || db.Len() != 0 || db.LookupInbound(0x1000, ESP, hostA) != nil || db.Session(7) != nil {
		t.Fatal("hard-expired SA still in the DB")
	}
	if !f.closed.Load() {
		t.Fatal("keys of the hard-expired SA not zeroed")
	}
	if st := sa.Stats(); st.Packets != 10 || st.Bytes != 1000 {
		t.Fatalf("refused packets counted: %+v", st)
	}
}

func TestHardByteLifetime(t *testing.T) {
	db, _, rec := newTestDB(t)
	c := testConfig(0x1000)
	c.SoftLifetime.Bytes = 1000
	c.HardLifetime.Bytes = 1500
	sa := addSA(t, db, c)
	for _, n := range []int{999} {
		if err := sa.Account(n); err != nil {
			t.Fatal(err)
		}
	}
	if len(rec.take()) != 0 {
		t.Fatal("soft event before the soft limit")
	}
	sa.Account(1)   // 1000: soft limit reached
	sa.Account(500) // 1500: exactly the hard limit is allowed
	if err := sa.Account(1); !errors.Is(err, xe.SAExpired) {
		t.Fatalf("1501st byte: %v", err)
	}
	ev := rec.take()
	if len(ev) != 2 || ev[0].Kind != SoftExpired || ev[1].Kind != HardExpired ||
		ev[1].Reason != "hard lifetime of 1500 bytes reached" || ev[1].SPI != 0x1000 || ev[1].Dst != hostA ||
		ev[1].PolicyID != 7 || ev[1].Direction != Inbound || ev[1].Protocol != ESP || ev[1].SA != sa {
		t.Fatalf("events %v", ev)
	}
}

// TestLifetimeConcurrent hammers Account from many goroutines: the soft
// event fires once, exactly the hard limit of packets pass, one HardExpired.
func TestLifetimeConcurrent(t *testing.T) {
	db, _, rec := newTestDB(t)
	c := outbound(0x1000)
	c.SoftLifetime.Packets = 1000
	c.HardLifetime.Packets = 5000
	sa := addSA(t, db, c)
	var ok atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				if sa.Account(10) == nil {
					ok.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 5000 {
		t.Fatalf("%d packets passed, want 5000", ok.Load())
	}
	if got := rec.kinds(); !slices.Equal(got, []EventKind{SoftExpired, HardExpired}) {
		t.Fatalf("events %v", got)
	}
}

func TestTimeLifetime(t *testing.T) {
	db, clk, rec := newTestDB(t)
	f := &fakeESP{}
	c := testConfig(0x1000)
	c.ESPTransform = f
	c.SoftLifetime.Time = 10 * time.Second
	c.HardLifetime.Time = 20 * time.Second
	sa := addSA(t, db, c)
	if !sa.AddedAt().Equal(epoch) {
		t.Fatalf("AddedAt %v", sa.AddedAt())
	}
	clk.Advance(9 * time.Second)
	sa.Account(1)
	if lu := sa.Stats().LastUsed; !lu.Equal(epoch.Add(9 * time.Second)) {
		t.Fatalf("LastUsed %v by the DB's clock, want %v", lu, epoch.Add(9*time.Second))
	}
	if len(rec.take()) != 0 || sa.State() != Mature {
		t.Fatal("expired early")
	}
	clk.Advance(time.Second)
	if ev := rec.take(); len(ev) != 1 || ev[0].Kind != SoftExpired || ev[0].Reason != "soft lifetime of 10s reached" {
		t.Fatalf("at 10s: %v", ev)
	}
	if sa.State() != Dying || db.Len() != 1 {
		t.Fatal("soft expiry must leave the SA usable")
	}
	clk.Advance(10 * time.Second)
	if ev := rec.take(); len(ev) != 1 || ev[0].Kind != HardExpired {
		t.Fatalf("at 20s: %v", ev)
	}
	if db.Len() != 0 || !f.closed.Load() || sa.Account(1) == nil {
		t.Fatal("hard-expired SA not deleted")
	}
	if len(db.timers) != 0 {
		t.Fatalf("%d deadlines left", len(db.timers))
	}
}

// countingClock counts the timers made, to show the DB keeps one.
type countingClock struct {
	*ManualClock
	made atomic.Int64
}

func (c *countingClock) AfterFunc(d time.Duration, f func()) Timer {
	c.made.Add(1)
	return c.ManualClock.AfterFunc(d, f)
}

func TestSchedulerManySAs(t *testing.T) {
	clk := &countingClock{ManualClock: NewManualClock(epoch)}
	rec := &recorder{}
	db := NewDB(WithClock(clk), WithEventHandler(rec.on))
	const n = 300
	want := map[uint32]time.Duration{}
	for i := range n {
		c := outbound(uint32(0x1000 + i))
		c.HardLifetime.Time = time.Duration(1+rand.IntN(100)) * time.Second
		if i%3 == 0 {
			c.SoftLifetime.Time = c.HardLifetime.Time / 2
		}
		want[c.SPI] = c.HardLifetime.Time
		addSA(t, db, c)
	}
	// Delete some before they expire: they must raise Deleted, not expire.
	deleted := 0
	for spi := range want {
		if deleted == 30 {
			break
		}
		if err := db.Delete(spi, ESP, hostB); err != nil {
			t.Fatal(err)
		}
		delete(want, spi)
		deleted++
	}
	if got := len(rec.take()); got != 30 {
		t.Fatalf("%d Deleted events, want 30", got)
	}
	for sec := 1; sec <= 100; sec++ {
		clk.Advance(time.Second)
		for _, e := range rec.take() {
			if e.Kind != HardExpired {
				continue
			}
			if d, ok := want[e.SPI]; !ok || d != time.Duration(sec)*time.Second {
				t.Fatalf("SPI %#x expired at %ds, want %v", e.SPI, sec, d)
			}
			delete(want, e.SPI)
		}
	}
	if len(want) != 0 || db.Len() != 0 {
		t.Fatalf("%d SAs never expired, %d in the DB", len(want), db.Len())
	}
	if clk.made.Load() != 1 {
		t.Fatalf("%d timers made, want one per DB", clk.made.Load())
	}
}

func TestDeleteBeforeTimeLifetime(t *testing.T) {
	db, clk, rec := newTestDB(t)
	c := testConfig(0x1000)
	c.HardLifetime.Time = time.Minute
	addSA(t, db, c)
	if err := db.Delete(0x1000, ESP, hostA); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour)
	if got := rec.kinds(); !slices.Equal(got, []EventKind{Deleted}) {
		t.Fatalf("events %v, want [deleted]", got)
	}
	if len(db.timers) != 0 {
		t.Fatal("deleted SA left a deadline")
	}
}

// TestSystemClock checks the real timer path with short lifetimes.
func TestSystemClock(t *testing.T) {
	got := make(chan Event, 4)
	db := NewDB(WithEventHandler(func(e Event) { got <- e }))
	defer db.Close()
	c := testConfig(0x1000)
	c.SoftLifetime.Time = 10 * time.Millisecond
	c.HardLifetime.Time = 30 * time.Millisecond
	addSA(t, db, c)
	for _, want := range []EventKind{SoftExpired, HardExpired} {
		select {
		case e := <-got:
			if e.Kind != want {
				t.Fatalf("got %v, want %v", e.Kind, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no %v event", want)
		}
	}
}
