package classify

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sabre-ipsec/sabre/xe"
)

// linear is the naive matcher the tree must agree with: rules in
// (priority, ID, index) order, first match wins. It compares addresses as
// 128-bit integers, which is much faster than Rule.Match on 100,000 rules;
// a sample of packets is checked with Rule.Match itself as well.
type linear struct {
	rules []Rule
	order []int
	boxes []linearBox
}

type linearBox struct {
	srcLo, srcHi, dstLo, dstHi u128
	spLo, spHi, dpLo, dpHi     uint16
	proto                      uint8
	v4                         bool
}

func newLinear(rules []Rule) *linear {
	l := &linear{rules: rules, order: make([]int, len(rules))}
	for i := range l.order {
		l.order[i] = i
	}
	slices.SortFunc(l.order, func(a, b int) int {
		return cmp.Or(cmp.Compare(rules[a].Priority, rules[b].Priority), cmp.Compare(rules[a].ID, rules[b].ID), cmp.Compare(a, b))
	})
	for _, i := range l.order {
		r := &rules[i]
		b := linearBox{
			srcLo: addrU128(r.Src.From()), srcHi: addrU128(r.Src.To()),
			dstLo: addrU128(r.Dst.From()), dstHi: addrU128(r.Dst.To()),
			proto: r.Proto, v4: r.Src.Is4(),
		}
		b.spLo, b.spHi = r.Src.Ports()
		b.dpLo, b.dpHi = r.Dst.Ports()
		l.boxes = append(l.boxes, b)
	}
	return l
}

func (l *linear) lookup(p *Packet) (int, bool) {
	if !p.Src.IsValid() || !p.Dst.IsValid() || p.Src.Is4() != p.Dst.Is4() {
		return -1, false
	}
	src, dst, v4 := addrU128(p.Src), addrU128(p.Dst), p.Src.Is4()
	for i := range l.boxes {
		b := &l.boxes[i]
		if b.v4 == v4 && (b.proto == 0 || b.proto == p.Proto) &&
			!src.less(b.srcLo) && !b.srcHi.less(src) && !dst.less(b.dstLo) && !b.dstHi.less(dst) &&
			b.spLo <= p.SrcPort && p.SrcPort <= b.spHi && b.dpLo <= p.DstPort && p.DstPort <= b.dpHi {
			return l.order[i], true
		}
	}
	return -1, false
}

// lookupMatch is lookup with Rule.Match.
func (l *linear) lookupMatch(p *Packet) (int, bool) {
	for _, i := range l.order {
		if l.rules[i].Match(p) {
			return i, true
		}
	}
	return -1, false
}

// checkAgainstLinear looks up every packet in t and in the linear matcher,
// in parallel, and reports the first few disagreements.
func checkAgainstLinear(t *testing.T, tree *Tree, rules []Rule, pkts []Packet) {
	t.Helper()
	l := newLinear(rules)
	workers := runtime.GOMAXPROCS(0)
	var mu sync.Mutex
	var bad []string
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(pkts); i += workers {
				p := &pkts[i]
				got, gotOK := tree.Lookup(p)
				want, wantOK := l.lookup(p)
				if i%50 == 0 {
					if w, ok := l.lookupMatch(p); w != want || ok != wantOK {
						mu.Lock()
						bad = append(bad, fmt.Sprintf("packet %v: linear matchers disagree: %d,%v and Rule.Match %d,%v", p, want, wantOK, w, ok))
						mu.Unlock()
					}
				}
				if got != want || gotOK != wantOK {
					mu.Lock()
					if len(bad) < 5 {
						msg := fmt.Sprintf("packet %v: tree says %d,%v", p, got, gotOK)
						if gotOK {
							msg += fmt.Sprintf(" (%v)", rules[got])
						}
						msg += fmt.Sprintf("; linear says %d,%v", want, wantOK)
						if wantOK {
							msg += fmt.Sprintf(" (%v)", rules[want])
						}
						bad = append(bad, msg)
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	for _, b := range bad {
		t.Error(b)
	}
}

func genPackets(g *gen, rules []Rule, n int) []Packet {
	pkts := make([]Packet, n)
	for i := range pkts {
		if i%3 == 0 {
			pkts[i] = g.packetUniform()
		} else {
			pkts[i] = g.packetNear(&rules[g.rng.IntN(len(rules))])
		}
	}
	return pkts
}

// TestTreeMatchesLinear is the property test: on large random rule sets of
// both families, realistic and wild, the tree and the linear matcher pick
// the same rule for every packet, packets being drawn uniformly and at the
// edges of rules.
func TestTreeMatchesLinear(t *testing.T) {
	nRules, nPkts := 100_000, 5000
	nWild := 20_000
	if raceEnabled {
		nPkts = 2000
	}
	if testing.Short() {
		nRules, nPkts, nWild = 10_000, 1000, 3000
	}
	for _, tc := range []struct {
		name  string
		v6    bool
		wild  bool
		rules int
	}{
		{"ipv4", false, false, nRules},
		{"ipv6", true, false, nRules},
		{"ipv4-wild", false, true, nWild},
		{"ipv6-wild", true, true, nWild},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(len(tc.name))))
			var rules []Rule
			if tc.wild {
				rules = genWildRules(rng, tc.rules, tc.v6)
			} else {
				rules = genRules(rng, tc.rules, tc.v6)
			}
			start := time.Now()
			tree, err := Build(rules)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d rules: build %v, %+v", len(rules), time.Since(start), tree.Stats())
			checkMemory(t, tree, len(rules))
			g := &gen{rng: rng, v6: tc.v6, nets: (&gen{rng: rng, v6: tc.v6}).poolFrom(rules)}
			checkAgainstLinear(t, tree, rules, genPackets(g, rules, nPkts))
		})
	}
}

// poolFrom returns the networks of the sources of rules, so that uniform
// packets land where the rules are.
func (g *gen) poolFrom(rules []Rule) []netip.Addr {
	var nets []netip.Addr
	for i := 0; i < len(rules); i += max(1, len(rules)/512) {
		p := netip.PrefixFrom(rules[i].Src.From(), 24)
		if g.v6 {
			p = netip.PrefixFrom(rules[i].Src.From(), 64)
		}
		nets = append(nets, p.Masked().Addr())
	}
	return nets
}

// TestTreeSmallSets checks many small random sets, where the shapes of the
// tree (covers, guards, side trees, shared leaves) vary the most.
func TestTreeSmallSets(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	sets := 300
	if testing.Short() {
		sets = 50
	}
	for i := range sets {
		v6 := i%2 == 1
		n := 1 + rng.IntN(200)
		var rules []Rule
		if i%3 == 0 {
			rules = genWildRules(rng, n, v6)
		} else {
			rules = genRules(rng, n+4, v6)
		}
		tree, err := Build(rules)
		if err != nil {
			t.Fatal(err)
		}
		g := &gen{rng: rng, v6: v6, nets: (&gen{rng: rng, v6: v6}).poolFrom(rules)}
		checkAgainstLinear(t, tree, rules, genPackets(g, rules, 300))
		if t.Failed() {
			t.Fatalf("set %d of %d rules", i, len(rules))
		}
	}
}

// TestTreeMixedFamilies puts IPv4 and IPv6 rules in one tree.
func TestTreeMixedFamilies(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	rules := append(genRules(rng, 2000, false), genRules(rng, 2000, true)...)
	for i := range rules {
		rules[i].ID = uint32(i + 1)
	}
	tree, err := Build(rules)
	if err != nil {
		t.Fatal(err)
	}
	g4 := &gen{rng: rng, nets: (&gen{rng: rng}).poolFrom(rules[:2000])}
	g6 := &gen{rng: rng, v6: true, nets: (&gen{rng: rng, v6: true}).poolFrom(rules[2000:])}
	pkts := append(genPackets(g4, rules[:2000], 1000), genPackets(g6, rules[2000:], 1000)...)
	checkAgainstLinear(t, tree, rules, pkts)

	// A packet of two families matches nothing.
	p := Packet{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("::1")}
	if i, ok := tree.Lookup(&p); ok {
		t.Errorf("mixed-family packet matched rule %d", i)
	}
}

func rule(id uint32, prio uint8, proto uint8, src, dst string) Rule {
	return Rule{ID: id, Priority: prio, Proto: proto, Src: MustParseSelector(src), Dst: MustParseSelector(dst)}
}

func pkt(src string, sp uint16, dst string, dp uint16, proto uint8) Packet {
	return Packet{Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), SrcPort: sp, DstPort: dp, Proto: proto}
}

func TestLookupPriorityAndTies(t *testing.T) {
	rules := []Rule{
		0: rule(10, 4, 0, "any", "any"),
		1: rule(5, 4, 0, "10.0.0.0/8", "any"), // same priority, lower ID: wins over 0
		2: rule(7, 2, 17, "10.1.0.0/16", "192.168.1.0/24,500"),
		3: rule(3, 7, 0, "any", "any"),                         // lowest priority
		4: rule(6, 2, 17, "10.1.0.0/16", "192.168.1.0/24,500"), // same as 2, lower ID: wins
		5: rule(1, 1, 1, "10.1.2.3", "192.168.1.1,0-0"),        // ICMP type any, code 0
		6: rule(2, 1, 1, "10.1.2.3,8", "192.168.1.1"),          // ICMP echo request only
		7: rule(20, 3, 0, "3ffe:501:ffff::/48", "any6"),
	}
	tree, err := Build(rules)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		p    Packet
		want int
	}{
		{pkt("1.2.3.4", 1, "5.6.7.8", 2, 6), 0},            // any/any: priority 4 beats ID 3 at priority 7
		{pkt("10.9.9.9", 1, "5.6.7.8", 2, 6), 1},           // ID 5 beats ID 10
		{pkt("10.1.9.9", 4500, "192.168.1.7", 500, 17), 4}, // priority 2, ID 6 beats ID 7
		{pkt("10.1.9.9", 4500, "192.168.1.7", 501, 17), 1}, // port mismatch
		{pkt("10.1.2.3", 8, "192.168.1.1", 0, 1), 5},       // ID 1 beats ID 2
		{pkt("10.1.2.3", 8, "192.168.1.1", 1, 1), 6},       // code 1: only the echo rule
		{pkt("10.1.2.3", 0, "192.168.1.1", 1, 1), 1},       // echo reply code 1: neither
		{pkt("3ffe:501:ffff::1", 1, "::1", 2, 6), 7},       // IPv6
		{pkt("3ffe:501:fffe::1", 1, "::1", 2, 6), -1},      // no IPv6 rule
	} {
		got, ok := tree.Lookup(&tc.p)
		if tc.want < 0 {
			if ok {
				t.Errorf("%v: got rule %d, want none", tc.p, got)
			}
			continue
		}
		if !ok || got != tc.want {
			t.Errorf("%v: got rule %d (ok %v), want %d", tc.p, got, ok, tc.want)
		}
	}
}

func TestBuildErrors(t *testing.T) {
	for _, tc := range []struct {
		r    Rule
		code xe.Code
	}{
		{Rule{ID: 1, Priority: 4}, xe.BadIDType},
		{rule(1, 0, 0, "any", "any"), xe.BadParam},
		{rule(1, 8, 0, "any", "any"), xe.BadParam},
		{rule(1, 4, 0, "any", "any6"), xe.BadAddrRange},
	} {
		_, err := Build([]Rule{tc.r})
		if !errors.Is(err, tc.code) {
			t.Errorf("Build(%v) = %v, want %v", tc.r, err, tc.code)
		}
	}
	if tree, err := Build(nil); err != nil || tree.Len() != 0 {
		t.Fatalf("Build(nil) = %v, %v", tree, err)
	}
}

func TestLookupAllocs(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	rules := genRules(rng, 5000, false)
	tree, _ := Build(rules)
	g := &gen{rng: rng, nets: (&gen{rng: rng}).poolFrom(rules)}
	pkts := genPackets(g, rules, 100)
	allocs := testing.AllocsPerRun(10, func() {
		for i := range pkts {
			tree.Lookup(&pkts[i])
		}
	})
	if allocs != 0 {
		t.Errorf("Lookup allocates %v times per %d lookups", allocs, len(pkts))
	}
}

// TestBuildBounded builds rule sets that defeat cutting (every rule a
// different wide range in every dimension) and checks that building stays
// fast and memory stays within the copy budget.
func TestBuildBounded(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 11))
	n := 20_000
	if testing.Short() {
		n = 5000
	}
	rules := make([]Rule, n)
	for i := range rules {
		a, b := rng.Uint32(), rng.Uint32()
		c, d := rng.Uint32(), rng.Uint32()
		src, _ := SelectorFromRange(fromU128(u128{0, uint64(min(a, b))}, false), fromU128(u128{0, uint64(max(a, b))}, false))
		dst, _ := SelectorFromRange(fromU128(u128{0, uint64(min(c, d))}, false), fromU128(u128{0, uint64(max(c, d))}, false))
		rules[i] = Rule{ID: uint32(i), Priority: uint8(1 + rng.IntN(7)), Src: src, Dst: dst}
	}
	start := time.Now()
	tree, err := Build(rules)
	if err != nil {
		t.Fatal(err)
	}
	st := tree.Stats()
	t.Logf("%d crossing ranges: build %v, %+v", n, time.Since(start), st)
	checkMemory(t, tree, n)
	g := &gen{rng: rng, nets: (&gen{rng: rng}).poolFrom(rules)}
	checkAgainstLinear(t, tree, rules, genPackets(g, rules, 300))
}

// checkMemory checks that tree stays within twice its memory budget (the
// budget is spent in shares; node headers and leaves round it up).
func checkMemory(t *testing.T, tree *Tree, rules int) {
	t.Helper()
	if limit := 2 * (bytesPerRule*rules + 2*minBudget); tree.Stats().Bytes > limit {
		t.Errorf("tree of %d rules takes %d bytes, more than %d", rules, tree.Stats().Bytes, limit)
	}
}
