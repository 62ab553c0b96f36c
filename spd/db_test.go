package spd

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"testing"

	"github.com/sabre-ipsec/sabre/classify"
	"github.com/sabre-ipsec/sabre/xe"
)

func pkt(src, dst string, proto uint8, sport, dport uint16) *classify.Packet {
	return &classify.Packet{Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), Proto: proto, SrcPort: sport, DstPort: dport}
}

// The reference's Example 1 SPD: IKE bypass at priority 2, TCP secured in
// transport mode at 4, everything else bypassed at 7.
func exampleDB(t *testing.T) (*DB, uint32) {
	t.Helper()
	db := NewDB()
	if _, err := db.AddBypassPolicy("10.0.0.78,500", "any", 17, PriorityHigh); err != nil {
		t.Fatal(err)
	}
	id, err := db.AddPolicy(Secure, Transport, 6, "10.0.0.78", "10.0.0.77", "10.0.0.77", FlagProtoESP|FlagCheckReplay, PriorityMedium)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.AddBypassPolicy("any", "any", 0, PriorityLowest); err != nil {
		t.Fatal(err)
	}
	return db, id
}

func TestLookupBothDirections(t *testing.T) {
	db, secure := exampleDB(t)
	tests := []struct {
		name string
		dir  Direction
		p    *classify.Packet
		want Action
		id   uint32
	}{
		{"outbound TCP secured", Outbound, pkt("10.0.0.78", "10.0.0.77", 6, 1234, 80), Secure, secure},
		{"inbound TCP mirrored", Inbound, pkt("10.0.0.77", "10.0.0.78", 6, 80, 1234), Secure, secure},
		{"outbound IKE bypassed first", Outbound, pkt("10.0.0.78", "10.0.0.77", 17, 500, 500), Bypass, 1},
		{"outbound UDP falls to any", Outbound, pkt("10.0.0.78", "10.0.0.77", 17, 53, 53), Bypass, 3},
		{"inbound TCP from elsewhere", Inbound, pkt("10.0.0.99", "10.0.0.78", 6, 80, 1234), Bypass, 3},
	}
	for _, tt := range tests {
		p := db.Lookup(tt.dir, tt.p)
		if p == nil || p.Action != tt.want || p.ID != tt.id {
			t.Errorf("%s: got %v, want %v policy %d", tt.name, p, tt.want, tt.id)
		}
	}
	if p := db.Lookup(Outbound, pkt("fe80::1", "fe80::2", 6, 1, 2)); p != nil {
		t.Errorf("IPv6 packet matched IPv4 policy %v", p)
	}
}

func TestPriorityAndTies(t *testing.T) {
	db := NewDB()
	low, _ := db.AddBypassPolicy("10.0.0.0/8", "any", 0, 6)
	high, _ := db.AddDropPolicy("10.1.0.0/16", "any", 0, 3)
	tie, _ := db.AddBypassPolicy("10.1.2.0/24", "any", 0, 3)
	p := db.Lookup(Outbound, pkt("10.1.2.3", "1.1.1.1", 6, 1, 1))
	if p.ID != high {
		t.Fatalf("equal priorities: got policy %d, want the first added %d (tie %d)", p.ID, high, tie)
	}
	if p := db.Lookup(Outbound, pkt("10.2.0.1", "1.1.1.1", 6, 1, 1)); p.ID != low {
		t.Fatalf("got %d, want %d", p.ID, low)
	}
}

func TestValidation(t *testing.T) {
	any4, any6 := classify.AnyIPv4(), classify.AnyIPv6()
	remote := netip.MustParseAddr("192.0.2.1")
	tests := []struct {
		name string
		p    Policy
		code xe.Code
	}{
		{"priority 8", Policy{Action: Bypass, Priority: 8, Src: any4, Dst: any4}, xe.BadParam},
		{"no selectors", Policy{Action: Bypass}, xe.BadIDType},
		{"mixed families", Policy{Action: Bypass, Src: any4, Dst: any6}, xe.BadAddrRange},
		{"no action", Policy{Src: any4, Dst: any4}, xe.BadParam},
		{"secure without mode", Policy{Action: Secure, Src: any4, Dst: any4}, xe.BadParam},
		{"tunnel without remote", Policy{Action: Secure, Mode: Tunnel, Src: any4, Dst: any4}, xe.BadParam},
		{"tunnel endpoints of two families", Policy{Action: Secure, Mode: Tunnel, Src: any4, Dst: any4, TunnelRemote: remote, TunnelLocal: netip.MustParseAddr("::1")}, xe.BadAddrRange},
		{"dummy packets in transport", Policy{Action: Secure, Mode: Transport, Src: any4, Dst: any4, Flags: FlagTxDummyPkt}, xe.BadParam},
		{"both DF flags", Policy{Action: Secure, Mode: Tunnel, Src: any4, Dst: any4, TunnelRemote: remote, Flags: FlagDFCopy | FlagDFSet}, xe.BadParam},
	}
	for _, tt := range tests {
		_, err := NewDB().Add(tt.p)
		if !errors.Is(err, tt.code) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.code.Name())
		}
	}
}

func TestDefaultsAndDuplicates(t *testing.T) {
	db := NewDB()
	id, err := db.Add(Policy{Name: "p", Action: Secure, Mode: Tunnel, Src: classify.MustParseSelector("10.0.0.0/24"), Dst: classify.MustParseSelector("10.0.1.0/24"), TunnelRemote: netip.MustParseAddr("192.0.2.1")})
	if err != nil {
		t.Fatal(err)
	}
	p := db.Get(id)
	if p.Priority != DefaultPriority || p.Flags&FlagProtoESP == 0 || p.ReplayWindow != DefaultReplayWindow || p.Lifetime != DefaultLifetime {
		t.Fatalf("defaults not applied: %+v", p)
	}
	if db.ByName("p") != p {
		t.Fatal("ByName")
	}
	dup := *p
	dup.ID, dup.Name = 0, ""
	if _, err := db.Add(dup); !errors.Is(err, xe.Exist) {
		t.Fatalf("duplicate traffic: err = %v", err)
	}
	other := *p
	other.ID = 0
	other.Priority = 5
	if _, err := db.Add(other); !errors.Is(err, xe.Exist) {
		t.Fatalf("duplicate name: err = %v", err)
	}
	if err := db.DeleteByName("p"); err != nil || db.Len() != 0 {
		t.Fatalf("DeleteByName: %v, %d left", err, db.Len())
	}
	if err := db.Delete(id); !errors.Is(err, xe.PolicyNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

func TestOnChange(t *testing.T) {
	db := NewDB()
	var added, deleted int
	db.OnChange = func(a, d []*Policy) { added += len(a); deleted += len(d) }
	id, _ := db.AddBypassPolicy("any", "any", 0, 7)
	db.AddDropPolicy("any6", "any6", 0, 7)
	db.Delete(id)
	if n := db.Flush(); n != 1 || added != 2 || deleted != 2 {
		t.Fatalf("flush %d, added %d, deleted %d", n, added, deleted)
	}
}

// TestConcurrentLookup reads while writers add and delete (run with -race).
func TestConcurrentLookup(t *testing.T) {
	db, _ := exampleDB(t)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := pkt("10.0.0.78", "10.0.0.77", 6, 1, 2)
			for {
				select {
				case <-stop:
					return
				default:
				}
				if db.Lookup(Outbound, p) == nil {
					t.Error("lookup lost the policies during a write")
					return
				}
			}
		}()
	}
	for i := range 200 {
		id, err := db.AddDropPolicy("192.168.0.1", "any", uint8(i%200+1), 5)
		if err != nil {
			t.Fatal(err)
		}
		db.Delete(id)
	}
	close(stop)
	wg.Wait()
}

func TestLookupAllocates0(t *testing.T) {
	db, _ := exampleDB(t)
	p := pkt("10.0.0.78", "10.0.0.77", 6, 1, 2)
	if n := testing.AllocsPerRun(100, func() { db.Lookup(Outbound, p) }); n != 0 {
		t.Fatalf("Lookup allocates %v", n)
	}
}

// TestMirror checks the inbound mirror: addresses and ports swap, ICMP
// type and code do not.
func TestMirror(t *testing.T) {
	db := NewDB()
	web, err := db.AddPolicy(Secure, Transport, 6, "10.0.0.1,1000-2000", "10.0.0.2,80", "10.0.0.2", 0, 3)
	if err != nil {
		t.Fatal(err)
	}
	echo, err := db.AddPolicy(Secure, Transport, 1, "10.0.0.1,8", "10.0.0.0/24,0-0", "10.0.0.2", 0, 3) // echo request, code 0
	if err != nil {
		t.Fatal(err)
	}
	v6, err := db.AddPolicy(Secure, Tunnel, 0, "2001:db8:1::/48", "2001:db8:2::/48", "192.0.2.2", 0, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		dir  Direction
		p    *classify.Packet
		want uint32 // 0: no policy
	}{
		{"outbound as written", Outbound, pkt("10.0.0.1", "10.0.0.2", 6, 1500, 80), web},
		{"inbound mirrored", Inbound, pkt("10.0.0.2", "10.0.0.1", 6, 80, 1500), web},
		{"inbound as written does not match", Inbound, pkt("10.0.0.1", "10.0.0.2", 6, 1500, 80), 0},
		{"outbound mirrored does not match", Outbound, pkt("10.0.0.2", "10.0.0.1", 6, 80, 1500), 0},
		{"inbound with unswapped ports", Inbound, pkt("10.0.0.2", "10.0.0.1", 6, 1500, 80), 0},
		{"ICMP echo out", Outbound, pkt("10.0.0.1", "10.0.0.9", 1, 8, 0), echo},
		{"ICMP echo in: type and code stay", Inbound, pkt("10.0.0.9", "10.0.0.1", 1, 8, 0), echo},
		{"ICMP echo reply in", Inbound, pkt("10.0.0.9", "10.0.0.1", 1, 0, 0), 0},
		{"IPv6 out", Outbound, pkt("2001:db8:1::5", "2001:db8:2::7", 17, 1, 2), v6},
		{"IPv6 in", Inbound, pkt("2001:db8:2::7", "2001:db8:1::5", 17, 2, 1), v6},
		{"IPv6 in, wrong way", Inbound, pkt("2001:db8:1::5", "2001:db8:2::7", 17, 1, 2), 0},
	} {
		got := db.Lookup(tt.dir, tt.p)
		switch {
		case tt.want == 0 && got != nil:
			t.Errorf("%s: got %v, want none", tt.name, got)
		case tt.want != 0 && (got == nil || got.ID != tt.want):
			t.Errorf("%s: got %v, want policy %d", tt.name, got, tt.want)
		}
	}
}

// TestTieBreakByID checks that among equal priorities the lower ID wins,
// whatever the order of adding.
func TestTieBreakByID(t *testing.T) {
	db := NewDB()
	if _, err := db.Add(Policy{ID: 50, Action: Drop, Src: classify.MustParseSelector("10.0.0.0/8"), Dst: classify.AnyIPv4(), Priority: 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Add(Policy{ID: 10, Action: Bypass, Src: classify.MustParseSelector("10.1.0.0/16"), Dst: classify.AnyIPv4(), Priority: 3}); err != nil {
		t.Fatal(err)
	}
	if p := db.Lookup(Outbound, pkt("10.1.1.1", "1.1.1.1", 6, 1, 1)); p == nil || p.ID != 10 {
		t.Fatalf("got %v, want policy 10", p)
	}
	// Assigned IDs continue after the highest given one.
	id, err := db.AddBypassPolicy("any", "any", 0, 7)
	if err != nil || id != 51 {
		t.Fatalf("assigned ID %d, %v; want 51", id, err)
	}
	list := db.List()
	if len(list) != 3 || list[0].ID != 10 || list[1].ID != 50 || list[2].ID != 51 {
		t.Fatalf("List order: %v", list)
	}
}

// TestAddBatchAllOrNothing checks that a batch with one bad policy adds
// none, and the conflicts a batch can have.
func TestAddBatchAllOrNothing(t *testing.T) {
	db, _ := exampleDB(t)
	n := db.Len()
	good := Policy{Action: Drop, Src: classify.MustParseSelector("172.16.0.0/12"), Dst: classify.AnyIPv4()}
	for _, tt := range []struct {
		name  string
		batch []Policy
		code  xe.Code
	}{
		{"invalid policy last", []Policy{good, {Action: Drop}}, xe.BadIDType},
		{"same traffic twice", []Policy{good, good}, xe.Exist},
		{"same traffic as an existing policy", []Policy{{Action: Drop, Proto: 17, Priority: PriorityHigh, Src: classify.MustParseSelector("10.0.0.78,500"), Dst: classify.AnyIPv4()}}, xe.Exist},
		{"same name twice", []Policy{{Name: "x", Action: Drop, Src: classify.AnyIPv4(), Dst: classify.AnyIPv4()}, {Name: "x", Action: Bypass, Src: classify.AnyIPv6(), Dst: classify.AnyIPv6()}}, xe.Exist},
		{"ID in use", []Policy{{ID: 1, Action: Drop, Src: classify.AnyIPv6(), Dst: classify.AnyIPv6()}}, xe.Exist},
		{"same ID twice", []Policy{{ID: 99, Action: Drop, Src: classify.AnyIPv6(), Dst: classify.AnyIPv6()}, {ID: 99, Action: Drop, Src: classify.AnyIPv4(), Dst: classify.AnyIPv4(), Priority: 1}}, xe.Exist},
	} {
		if _, err := db.AddBatch(tt.batch); !errors.Is(err, tt.code) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.code.Name())
		}
		if db.Len() != n {
			t.Fatalf("%s: %d policies after a failed batch, want %d", tt.name, db.Len(), n)
		}
	}
	if _, err := db.AddBatch([]Policy{good}); err != nil {
		t.Fatal(err)
	}
}

func TestAdminErrors(t *testing.T) {
	db := NewDB()
	for _, tt := range []struct {
		name string
		add  func() (uint32, error)
		code xe.Code
	}{
		{"bad source", func() (uint32, error) { return db.AddBypassPolicy("10.0.0.1/33", "any", 0, 1) }, xe.BadAddrRange},
		{"bad destination port", func() (uint32, error) { return db.AddDropPolicy("any", "10.0.0.1,70000", 0, 1) }, xe.BadPortNumber},
		{"not a selector", func() (uint32, error) { return db.AddDropPolicy("host", "any", 0, 1) }, xe.BadIDType},
		{"priority 8", func() (uint32, error) { return db.AddBypassPolicy("any", "any", 0, 8) }, xe.BadParam},
		{"priority -1", func() (uint32, error) { return db.AddBypassPolicy("any", "any", 0, -1) }, xe.BadParam},
		{"bad remote", func() (uint32, error) {
			return db.AddPolicy(Secure, Tunnel, 0, "10.0.0.0/24", "10.1.0.0/24", "gateway", FlagProtoESP, 4)
		}, xe.BadParam},
		{"tunnel without remote", func() (uint32, error) {
			return db.AddPolicy(Secure, Tunnel, 0, "10.0.0.0/24", "10.1.0.0/24", "", FlagProtoESP, 4)
		}, xe.BadParam},
	} {
		if _, err := tt.add(); !errors.Is(err, tt.code) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.code.Name())
		}
	}
	if db.Len() != 0 {
		t.Fatalf("%d policies added by failed calls", db.Len())
	}
	id, err := db.AddPolicy(Secure, Tunnel, 17, "10.0.0.0/24", "10.1.0.0/24,4500", "192.0.2.1", FlagProtoAH|FlagProtoESP|FlagCheckReplay, 0)
	if err != nil {
		t.Fatal(err)
	}
	p := db.Get(id)
	if p.Priority != DefaultPriority || p.TunnelRemote != netip.MustParseAddr("192.0.2.1") || p.Proto != 17 || p.Dst.String() != "10.1.0.0/24,4500" {
		t.Fatalf("got %v", p)
	}
}

// TestOnChangeOrder checks that concurrent writers' notifications come in
// the order of the writes: a policy is never reported deleted before it is
// reported added.
func TestOnChangeOrder(t *testing.T) {
	db := NewDB()
	var mu sync.Mutex
	state := map[uint32]int{} // 1 added, 2 deleted
	var bad []string
	db.OnChange = func(added, deleted []*Policy) {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range added {
			if state[p.ID] != 0 {
				bad = append(bad, "added twice")
			}
			state[p.ID] = 1
		}
		for _, p := range deleted {
			if state[p.ID] != 1 {
				bad = append(bad, "deleted before added")
			}
			state[p.ID] = 2
			if db.Get(p.ID) != nil { // readers see the write already
				bad = append(bad, "deleted policy still readable")
			}
		}
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				id, err := db.AddDropPolicy("192.168.0.1", "any", uint8(1+w*50+i), 5)
				if err != nil {
					t.Error(err)
					return
				}
				if err := db.Delete(id); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if len(bad) > 0 || len(state) != 200 {
		t.Fatalf("%d policies seen, problems: %v", len(state), bad)
	}
}

// TestWritesMatchLinear adds and deletes policies one by one in a DB big
// enough to compact in the background, while a reader looks up the packet
// of a policy that stays, and checks after each write that Lookup, Get,
// ByName, Len and List agree with a plain list of the policies: writes
// replayed onto a compaction that ran meanwhile included.
func TestWritesMatchLinear(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 9))
	// Priority 1 is left to the reader's policy.
	all := slices.DeleteFunc(randomPolicies(rng, 3600), func(p Policy) bool { return p.Priority == PriorityHighest })
	for i := range all {
		all[i].Name = fmt.Sprintf("p%d", i)
	}
	db := NewDB()
	ids, err := db.AddBatch(all[:2000])
	if err != nil {
		t.Fatal(err)
	}
	model := map[uint32]bool{} // the IDs the DB must hold
	for _, id := range ids {
		model[id] = true
	}
	spare := slices.Clone(all[2000:])
	// The reader's policy has the highest priority: it always wins for
	// its packet.
	stay, _ := classify.SelectorFromAddr(netip.MustParseAddr("203.0.113.7"))
	stayID, err := db.Add(Policy{Action: Drop, Priority: PriorityHighest, Src: stay, Dst: classify.AnyIPv4()})
	if err != nil {
		t.Fatal(err)
	}
	model[stayID] = true
	stop := make(chan struct{})
	readerDone := make(chan error)
	go func() {
		pkt := classify.Packet{Src: netip.MustParseAddr("203.0.113.7"), Dst: netip.MustParseAddr("198.51.100.1"), Proto: 6}
		for {
			select {
			case <-stop:
				readerDone <- nil
				return
			default:
			}
			if p := db.Lookup(Outbound, &pkt); p == nil || p.ID != stayID {
				readerDone <- fmt.Errorf("lookup during writes: %v, want policy %d", p, stayID)
				return
			}
		}
	}()
	ops := 300
	if testing.Short() {
		ops = 100
	}
	for op := range ops {
		switch {
		case rng.IntN(2) == 0 && len(spare) > 0:
			p := spare[0]
			spare = spare[1:]
			id, err := db.Add(p)
			if err != nil {
				t.Fatalf("op %d: %v", op, err)
			}
			model[id] = true
		default:
			list := db.List()
			p := list[rng.IntN(len(list))]
			if p.ID == stayID {
				continue
			}
			if err := db.Delete(p.ID); err != nil {
				t.Fatalf("op %d: %v", op, err)
			}
			delete(model, p.ID)
			q := *p
			q.ID = 0
			spare = append(spare, q)
		}
		if op%50 == 0 {
			db.WaitCompacted()
		}
		list := db.List()
		if db.Len() != len(model) || len(list) != len(model) {
			t.Fatalf("op %d: Len %d, List %d, want %d", op, db.Len(), len(list), len(model))
		}
		for i, p := range list {
			if !model[p.ID] {
				t.Fatalf("op %d: List has policy %d, which is not in the DB", op, p.ID)
			}
			if i > 0 && (list[i-1].Priority > p.Priority || list[i-1].Priority == p.Priority && list[i-1].ID > p.ID) {
				t.Fatalf("op %d: List out of order at %d", op, i)
			}
			if db.Get(p.ID) != p || p.Name != "" && db.ByName(p.Name) != p {
				t.Fatalf("op %d: Get or ByName of %v", op, p)
			}
		}
		for range 40 {
			p := list[rng.IntN(len(list))]
			pkt := &classify.Packet{Src: p.Src.From(), Dst: p.Dst.To(), Proto: 6, SrcPort: 1000, DstPort: 2000}
			if lo, _ := p.Src.Ports(); lo != 0 {
				pkt.SrcPort = lo
			}
			if lo, _ := p.Dst.Ports(); lo != 0 {
				pkt.DstPort = lo
			}
			for _, dir := range []Direction{Outbound, Inbound} {
				q := pkt
				if dir == Inbound {
					q = &classify.Packet{Src: pkt.Dst, Dst: pkt.Src, Proto: pkt.Proto, SrcPort: pkt.DstPort, DstPort: pkt.SrcPort}
				}
				var want *Policy
				for _, c := range list {
					if r := c.Rule(dir); r.Match(q) {
						want = c
						break
					}
				}
				if got := db.Lookup(dir, q); got != want {
					t.Fatalf("op %d: %v %v: got %v, want %v", op, dir, q, got, want)
				}
			}
		}
	}
	close(stop)
	if err := <-readerDone; err != nil {
		t.Fatal(err)
	}
	db.WaitCompacted()
}

func TestBySelectors(t *testing.T) {
	db := NewDB()
	src, dst := classify.MustParseSelector("10.0.0.0/8"), classify.MustParseSelector("192.168.1.1")
	var want []*Policy
	for _, prio := range []uint8{5, 2} {
		id, err := db.Add(Policy{Action: Bypass, Priority: prio, Proto: 6, Src: src, Dst: dst})
		if err != nil {
			t.Fatal(err)
		}
		want = append([]*Policy{db.Get(id)}, want...)
	}
	// Other traffic: another protocol, the mirror image.
	if _, err := db.Add(Policy{Action: Bypass, Proto: 17, Src: src, Dst: dst}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Add(Policy{Action: Bypass, Proto: 6, Src: dst, Dst: src}); err != nil {
		t.Fatal(err)
	}
	if got := db.BySelectors(src, dst, 6); !slices.Equal(got, want) {
		t.Errorf("BySelectors = %v, want %v", got, want)
	}
	if err := db.Delete(want[0].ID); err != nil {
		t.Fatal(err)
	}
	if got := db.BySelectors(src, dst, 6); !slices.Equal(got, want[1:]) {
		t.Errorf("BySelectors after a delete = %v, want %v", got, want[1:])
	}
}
