package sad

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sabre-ipsec/sabre/xe"
)

func TestAddLookup(t *testing.T) {
	db, _, _ := newTestDB(t)
	in := addSA(t, db, testConfig(0x1000))
	ah := addSA(t, db, ahConfig(0x1000)) // AH and ESP share an inbound SPI
	out := addSA(t, db, outbound(0x2000))
	if db.Len() != 3 || !slices.Equal(db.All(), []*SA{in, ah, out}) {
		t.Fatalf("Len %d, All %v", db.Len(), db.All())
	}
	for _, tc := range []struct {
		spi   uint32
		proto Protocol
		dst   netip.Addr
		want  *SA
	}{
		{0x1000, ESP, hostA, in},
		{0x1000, AH, hostA, ah},
		{0x1000, ESP, netip.AddrFrom16(hostA.As16()), in}, // IPv4-mapped
		{0x1000, ESP, hostB, nil},
		{0x1001, ESP, hostA, nil},
		{0x2000, ESP, hostB, nil}, // outbound SAs are not looked up
	} {
		if got := db.LookupInbound(tc.spi, tc.proto, tc.dst); got != tc.want {
			t.Errorf("LookupInbound(%#x, %v, %v) = %v, want %v", tc.spi, tc.proto, tc.dst, got, tc.want)
		}
	}
}

func TestAddRejects(t *testing.T) {
	db, _, _ := newTestDB(t)
	addSA(t, db, testConfig(0x1000))
	addSA(t, db, outbound(0x2000))
	for _, tc := range []struct {
		name string
		cfg  Config
		code xe.Code
	}{
		{"duplicate inbound", testConfig(0x1000), xe.Exist},
		{"duplicate outbound", outbound(0x2000), xe.Exist},
	} {
		if err := db.Add(newSA(t, tc.cfg)); !errors.Is(err, tc.code) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.code.Name())
		}
	}
	// Same SPI to another destination is another SA.
	other := testConfig(0x1000)
	other.Local, other.Remote = netip.MustParseAddr("198.51.100.1"), hostB
	addSA(t, db, other)

	sa := newSA(t, testConfig(0x3000))
	if err := db.Add(sa); err != nil {
		t.Fatal(err)
	}
	if err := db.Add(sa); !errors.Is(err, xe.Exist) {
		t.Errorf("adding an SA twice: %v", err)
	}
	if err := NewDB().Add(sa); !errors.Is(err, xe.Exist) {
		t.Errorf("adding an SA to a second DB: %v", err)
	}
	dead := newSA(t, testConfig(0x4000))
	dead.Close()
	if err := db.Add(dead); !errors.Is(err, xe.BadParam) {
		t.Errorf("adding a dead SA: %v", err)
	}
	if err := db.Add(nil); !errors.Is(err, xe.BadParam) {
		t.Errorf("adding nil: %v", err)
	}
}

func TestSessionRekey(t *testing.T) {
	db, _, _ := newTestDB(t)
	if db.Session(7) != nil || db.Session(7).OutboundESP() != nil {
		t.Fatal("session before any SA")
	}
	in1 := addSA(t, db, testConfig(0x1001))
	out1 := addSA(t, db, outbound(0x2001))
	s := db.Session(7)
	if s.PolicyID() != 7 || s.OutboundESP() != out1 || s.PreviousESP() != nil || s.OutboundAH() != nil ||
		!slices.Equal(s.Inbound(), []*SA{in1}) {
		t.Fatalf("session after first pair: %+v", s)
	}
	// Rekey: the new pair arrives, the new outbound becomes current.
	in2 := addSA(t, db, testConfig(0x1002))
	out2 := addSA(t, db, outbound(0x2002))
	s = db.Session(7)
	if s.OutboundESP() != out2 || s.PreviousESP() != out1 || !slices.Equal(s.Inbound(), []*SA{in1, in2}) {
		t.Fatalf("session during rekey: %+v", s)
	}
	if db.LookupInbound(0x1001, ESP, hostA) != in1 || db.LookupInbound(0x1002, ESP, hostA) != in2 {
		t.Fatal("both inbound SAs must accept traffic during a rekey")
	}
	// The old pair is deleted.
	if n := db.DeleteSPIs(netip.Addr{}, ESP, 0x1001, 0x2001); n != 2 {
		t.Fatalf("DeleteSPIs deleted %d", n)
	}
	s = db.Session(7)
	if s.OutboundESP() != out2 || s.PreviousESP() != nil || !slices.Equal(s.Inbound(), []*SA{in2}) {
		t.Fatalf("session after rekey: %+v", s)
	}
	// A failed rekey: deleting the current one falls back to the previous.
	out3 := addSA(t, db, outbound(0x2003))
	if db.Session(7).OutboundESP() != out3 {
		t.Fatal("newest not current")
	}
	db.DeleteSA(out3)
	if db.Session(7).OutboundESP() != out2 {
		t.Fatal("previous not current again after the current was deleted")
	}
	// AH has its own current/previous.
	ahOut := ahConfig(0x3001)
	ahOut.Direction = Outbound
	ah1 := addSA(t, db, ahOut)
	if s := db.Session(7); s.OutboundAH() != ah1 || s.OutboundESP() != out2 || len(s.SAs()) != 3 {
		t.Fatalf("session with AH: %+v", s)
	}
}

// TestSessionDemote: a demoted outbound SA is never current but stays in
// the DB, alive, until it is deleted; the newest other one is current, or
// none.
func TestSessionDemote(t *testing.T) {
	db, _, rec := newTestDB(t)
	out1 := addSA(t, db, outbound(0x2001))
	out2 := addSA(t, db, outbound(0x2002))
	if err := db.Demote(0x2001, ESP, hostA); !errors.Is(err, xe.SANotFound) {
		t.Fatalf("Demote with the wrong destination: %v", err)
	}
	if err := db.Demote(0x2001, AH, hostB); !errors.Is(err, xe.SANotFound) {
		t.Fatalf("Demote with the wrong protocol: %v", err)
	}
	// Demoting the older one changes nothing the engine sees.
	if err := db.Demote(0x2001, ESP, hostB); err != nil {
		t.Fatal(err)
	}
	if s := db.Session(7); s.OutboundESP() != out2 || s.PreviousESP() != out1 {
		t.Fatalf("after demoting the previous SA: current %v previous %v", s.OutboundESP(), s.PreviousESP())
	}
	// A redundant new SA is demoted: the older one is current again.
	out3 := addSA(t, db, outbound(0x2003))
	if err := db.Demote(0x2003, ESP, hostB); err != nil {
		t.Fatal(err)
	}
	if err := db.Demote(0x2003, ESP, hostB); err != nil {
		t.Fatalf("demoting twice: %v", err)
	}
	s := db.Session(7)
	if s.OutboundESP() != out2 || s.PreviousESP() != out3 || out3.State() == Dead || db.Len() != 3 {
		t.Fatalf("after demoting the newest: current %v previous %v, %v, %d SAs", s.OutboundESP(), s.PreviousESP(), out3.State(), db.Len())
	}
	if err := out3.Account(1); err != nil {
		t.Fatalf("a packet that picked the demoted SA: %v", err)
	}
	if ev := rec.take(); len(ev) != 0 {
		t.Fatalf("Demote raised events %v", ev)
	}
	// With every outbound SA demoted there is none to send on.
	if err := db.Demote(0x2002, ESP, hostB); err != nil {
		t.Fatal(err)
	}
	if s := db.Session(7); s.OutboundESP() != nil || s.PreviousESP() != out3 || len(s.SAs()) != 3 {
		t.Fatalf("all demoted: current %v previous %v", s.OutboundESP(), s.PreviousESP())
	}
	// Deleting them works as ever; a new SA is current.
	if n := db.DeleteSPIs(hostB, ESP, 0x2001, 0x2002, 0x2003); n != 3 || db.Session(7) != nil {
		t.Fatalf("deleted %d, session %v", n, db.Session(7))
	}
	out4 := addSA(t, db, outbound(0x2004))
	if db.Session(7).OutboundESP() != out4 {
		t.Fatal("a new SA after the demoted ones is not current")
	}
}

func TestDeletes(t *testing.T) {
	db, _, rec := newTestDB(t)
	f := &fakeESP{}
	c := testConfig(0x1000)
	c.ESPTransform = f
	sa := addSA(t, db, c)
	if err := db.Delete(0x1000, ESP, hostB); !errors.Is(err, xe.SANotFound) {
		t.Fatalf("Delete of a missing SA: %v", err)
	}
	if err := db.Delete(0x1000, ESP, hostA); err != nil {
		t.Fatal(err)
	}
	if sa.State() != Dead || !f.closed.Load() || db.LookupInbound(0x1000, ESP, hostA) != nil || db.Session(7) != nil {
		t.Fatal("deleted SA still alive")
	}
	if ev := rec.take(); len(ev) != 1 || ev[0].Kind != Deleted || ev[0].SA != sa {
		t.Fatalf("events %v", ev)
	}
	if err := sa.Account(1); !errors.Is(err, xe.SAExpired) {
		t.Fatalf("Account on a deleted SA: %v", err)
	}
	if err := db.DeleteSA(sa); !errors.Is(err, xe.SANotFound) {
		t.Fatalf("DeleteSA twice: %v", err)
	}

	// DeletePolicy takes one session, leaves the others.
	for i := range 4 {
		c := testConfig(uint32(0x2000 + i))
		c.PolicyID = uint32(1 + i%2)
		addSA(t, db, c)
	}
	if n := db.DeletePolicy(1); n != 2 || db.Len() != 2 || db.Session(1) != nil || db.Session(2) == nil {
		t.Fatalf("DeletePolicy deleted %d, %d left", n, db.Len())
	}
	if db.DeletePolicy(99) != 0 {
		t.Fatal("DeletePolicy of an unknown policy")
	}

	// DeleteSPIs with ProtocolAny takes the ESP and AH pair.
	addSA(t, db, testConfig(0x5000))
	addSA(t, db, ahConfig(0x5000))
	other := testConfig(0x5000)
	other.Local = netip.MustParseAddr("198.51.100.1")
	addSA(t, db, other)
	if n := db.DeleteSPIs(hostA, ProtocolAny, 0x5000); n != 2 {
		t.Fatalf("DeleteSPIs(any) deleted %d, want the ESP and AH pair", n)
	}
	rec.take()
	if n := db.Flush(); n != 3 || db.Len() != 0 || len(rec.take()) != 3 {
		t.Fatalf("Flush deleted %d", n)
	}
}

// TestEventHandlerReenters checks that a handler may call back into the DB:
// IKE answers SoftExpired by adding the rekeyed SA.
func TestEventHandlerReenters(t *testing.T) {
	var db *DB
	var added atomic.Bool
	db = NewDB(WithEventHandler(func(e Event) {
		if e.Kind == SoftExpired {
			c := outbound(e.SPI + 1)
			sa, _ := New(c)
			added.Store(db.Add(sa) == nil)
		}
	}))
	c := outbound(0x1000)
	c.SoftLifetime.Packets = 1
	sa := addSA(t, db, c)
	sa.Account(1)
	if !added.Load() || db.Session(7).OutboundESP().SPI() != 0x1001 || db.Session(7).PreviousESP() != sa {
		t.Fatal("rekey from the event handler failed")
	}
}

func TestDBClose(t *testing.T) {
	db, _, rec := newTestDB(t)
	addSA(t, db, testConfig(0x1000))
	if _, err := db.ReserveSPI(ESP, hostA, 0); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if db.Len() != 0 || db.Reserved() != 0 || len(rec.take()) != 1 {
		t.Fatal("Close did not flush")
	}
	if err := db.Add(newSA(t, testConfig(0x2000))); err == nil {
		t.Fatal("Add after Close")
	}
}

// TestConcurrentReadersWriters runs lookups against adds and deletes; run it
// with -race.
func TestConcurrentReadersWriters(t *testing.T) {
	db, _, _ := newTestDB(t)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				for spi := uint32(0x1000); spi < 0x1040; spi++ {
					if sa := db.LookupInbound(spi, ESP, hostA); sa != nil {
						if sa.SPI() != spi {
							t.Error("wrong SA")
						}
						if sa.Acquire() {
							sa.Account(1)
							sa.Release()
						}
					}
					if s := db.Session(spi % 4); s != nil {
						_ = s.OutboundESP()
					}
				}
			}
		}()
	}
	for round := range 200 {
		spi := uint32(0x1000 + round%64)
		c := testConfig(spi)
		c.PolicyID = spi % 4
		sa, _ := New(c)
		if db.Add(sa) != nil {
			db.Delete(spi, ESP, hostA)
		}
	}
	close(stop)
	wg.Wait()
}

func BenchmarkLookupInbound(b *testing.B) {
	db := NewDB()
	const n = 10000
	for i := range n {
		c := testConfig(uint32(0x10000 + i*7919))
		c.PolicyID = uint32(i)
		sa, err := New(c)
		if err != nil {
			b.Fatal(err)
		}
		if err := db.Add(sa); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		spi := uint32(0x10000 + (i%n)*7919)
		if db.LookupInbound(spi, ESP, hostA) == nil {
			b.Fatal("not found")
		}
		i++
	}
	// Baseline: a plain Go map from SPI to SA.
	plain := map[uint32]*SA{}
	for _, sa := range db.All() {
		plain[sa.SPI()] = sa
	}
	reportBaseline(b, func(iters int) {
		for i := range iters {
			if plain[uint32(0x10000+(i%n)*7919)] == nil {
				b.Fatal("not found")
			}
		}
	})
}

func BenchmarkLookupInboundParallel(b *testing.B) {
	db := NewDB()
	for i := range 1000 {
		sa, _ := New(testConfig(uint32(0x10000 + i)))
		db.Add(sa)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if db.LookupInbound(uint32(0x10000+i%1000), ESP, hostA) == nil {
				b.Fatal("not found")
			}
			i++
		}
	})
}

func BenchmarkSession(b *testing.B) {
	db := NewDB()
	for i := range 1000 {
		c := outbound(uint32(0x10000 + i))
		c.PolicyID = uint32(i)
		sa, _ := New(c)
		db.Add(sa)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if db.Session(uint32(i%1000)).OutboundESP() == nil {
			b.Fatal("no SA")
		}
		i++
	}
}

// TestAddRacesTwoDBs adds one SA to two DBs at once: only one may own it.
func TestAddRacesTwoDBs(t *testing.T) {
	for range 100 {
		sa := newSA(t, testConfig(0x1000))
		dbs := [2]*DB{NewDB(), NewDB()}
		var ok atomic.Int64
		var wg sync.WaitGroup
		for _, db := range dbs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if db.Add(sa) == nil {
					ok.Add(1)
				}
			}()
		}
		wg.Wait()
		if ok.Load() != 1 || dbs[0].Len()+dbs[1].Len() != 1 {
			t.Fatalf("%d DBs took the SA", ok.Load())
		}
	}
}

// TestDBMatchesModel applies random adds and deletes of every kind (by key,
// by SA, by policy, by SPIs, with and without a destination) to a DB and to
// a plain list of SAs, and after each compares every lookup, session, All
// and Len: the indexes written in place must say what the list says.
func TestDBMatchesModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	db := NewDB()
	var model []*SA // in add order
	other := netip.MustParseAddr("198.51.100.1")
	spis := func() uint32 { return uint32(0x1000 + rng.IntN(40)) }
	for op := range 3000 {
		switch x := rng.IntN(10); {
		case x < 5:
			var c Config
			switch rng.IntN(4) {
			case 0:
				c = testConfig(spis())
			case 1:
				c = ahConfig(spis())
			case 2:
				c = outbound(spis())
			default:
				c = testConfig(spis())
				c.Local = other
			}
			c.PolicyID = uint32(rng.IntN(8))
			sa := newSA(t, c)
			dup := slices.ContainsFunc(model, func(x *SA) bool {
				return keyOf(x) == keyOf(sa) && x.cfg.Direction == sa.cfg.Direction
			})
			err := db.Add(sa)
			if dup != (err != nil) {
				t.Fatalf("op %d: Add(%v) = %v, duplicate %v", op, sa, err, dup)
			}
			if err == nil {
				model = append(model, sa)
			}
		case x < 6 && len(model) > 0:
			sa := model[rng.IntN(len(model))]
			k := keyOf(sa)
			if err := db.Delete(k.spi, k.proto, k.dst); err != nil {
				t.Fatalf("op %d: Delete(%v): %v", op, sa, err)
			}
			model = slices.DeleteFunc(model, func(x *SA) bool { return keyOf(x) == k })
		case x < 7 && len(model) > 0:
			sa := model[rng.IntN(len(model))]
			if err := db.DeleteSA(sa); err != nil {
				t.Fatalf("op %d: DeleteSA(%v): %v", op, sa, err)
			}
			model = slices.DeleteFunc(model, func(x *SA) bool { return x == sa })
		case x < 8:
			p := uint32(rng.IntN(8))
			want := len(slices.DeleteFunc(slices.Clone(model), func(x *SA) bool { return x.cfg.PolicyID != p }))
			if n := db.DeletePolicy(p); n != want {
				t.Fatalf("op %d: DeletePolicy(%d) = %d, want %d", op, p, n, want)
			}
			model = slices.DeleteFunc(model, func(x *SA) bool { return x.cfg.PolicyID == p })
		case x < 9:
			dst := []netip.Addr{{}, hostA, hostB, other}[rng.IntN(4)]
			proto := []Protocol{ProtocolAny, ESP, AH}[rng.IntN(3)]
			s := []uint32{spis(), spis()}
			s = append(s, s[0])
			match := func(x *SA) bool {
				return slices.Contains(s, x.cfg.SPI) && proto.matches(x.cfg.Protocol) && (!dst.IsValid() || x.Dst() == dst)
			}
			want := len(slices.DeleteFunc(slices.Clone(model), func(x *SA) bool { return !match(x) }))
			if n := db.DeleteSPIs(dst, proto, s...); n != want {
				t.Fatalf("op %d: DeleteSPIs(%v, %v, %#x) = %d, want %d", op, dst, proto, s, n, want)
			}
			model = slices.DeleteFunc(model, match)
		default:
			if rng.IntN(20) == 0 {
				if n := db.Flush(); n != len(model) {
					t.Fatalf("op %d: Flush = %d, want %d", op, n, len(model))
				}
				model = nil
			}
		}
		if db.Len() != len(model) || !slices.Equal(db.All(), model) {
			t.Fatalf("op %d: Len %d, All %v; want %v", op, db.Len(), db.All(), model)
		}
		for spi := uint32(0x1000); spi < 0x1000+40; spi++ {
			for _, dst := range []netip.Addr{hostA, other} {
				for _, proto := range []Protocol{ESP, AH} {
					var want *SA
					for _, x := range model {
						if x.cfg.Direction == Inbound && x.cfg.SPI == spi && x.cfg.Protocol == proto && x.cfg.Local == dst {
							want = x
						}
					}
					if got := db.LookupInbound(spi, proto, dst); got != want {
						t.Fatalf("op %d: LookupInbound(%#x, %v, %v) = %v, want %v", op, spi, proto, dst, got, want)
					}
				}
			}
		}
		for p := range uint32(8) {
			want := slices.DeleteFunc(slices.Clone(model), func(x *SA) bool { return x.cfg.PolicyID != p })
			s := db.Session(p)
			if !slices.Equal(s.SAs(), want) || (s != nil && s.PolicyID() != p) || (len(want) == 0) != (s == nil) {
				t.Fatalf("op %d: Session(%d) = %v, want %v", op, p, s.SAs(), want)
			}
		}
	}
}
