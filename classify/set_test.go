package classify

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/sabre-ipsec/sabre/xe"
)

// TestSetMatchesLinear is the property test of Set: interleaved adds,
// deletes, compactions and lookups, after each change every packet of a
// sample classified by the Set as the linear matcher classifies it against
// the rules the Set holds now. Deletes hit covers, any/any rules and rules
// already deleted from the base, so that lookups walk chains of fallbacks.
func TestSetMatchesLinear(t *testing.T) {
	for _, tc := range []struct {
		name        string
		v6, wild    bool
		rules, ops  int
		pktsPerStep int
	}{
		{"ipv4", false, false, 3000, 300, 200},
		{"ipv6", true, false, 3000, 300, 200},
		{"ipv4-wild", false, true, 800, 300, 200},
		{"ipv6-wild", true, true, 800, 300, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ops := tc.ops
			if testing.Short() || raceEnabled {
				ops /= 3
			}
			rng := rand.New(rand.NewPCG(9, uint64(len(tc.name))))
			var pool []Rule
			if tc.wild {
				pool = genWildRules(rng, tc.rules, tc.v6)
			} else {
				pool = genRules(rng, tc.rules, tc.v6)
			}
			for i := range pool {
				pool[i].ID = uint32(i + 1) // unique, as a Set needs
			}
			g := &gen{rng: rng, v6: tc.v6, nets: (&gen{rng: rng, v6: tc.v6}).poolFrom(pool)}
			// Start from half the pool, the rest to add.
			rng.Shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
			held := slices.Clone(pool[:len(pool)/2])
			spare := slices.Clone(pool[len(pool)/2:])
			s, err := NewSet(held, ids(held))
			if err != nil {
				t.Fatal(err)
			}
			check := func(step string) {
				t.Helper()
				if s.Len() != len(held) {
					t.Fatalf("%s: Len %d, want %d", step, s.Len(), len(held))
				}
				l := newLinear(held)
				for _, p := range genPackets(g, pool, tc.pktsPerStep) {
					got, gotOK := s.Lookup(&p)
					pa, pd := s.Pending()
					i, wantOK := l.lookup(&p)
					var want uint32
					if wantOK {
						want = held[i].ID
					}
					if got != want || gotOK != wantOK {
						t.Fatalf("%s: packet %v: Set says %d,%v; linear says %d,%v (%d held, %d added, %d deleted pending)", step, p, got, gotOK, want, wantOK, len(held), pa, pd)
					}
				}
			}
			check("start")
			for op := range ops {
				var step string
				switch x := rng.IntN(20); {
				case x < 8 && len(spare) > 0:
					k := min(len(spare), 1+rng.IntN(3))
					add := spare[:k]
					spare = spare[k:]
					if s, err = s.With(add, ids(add)); err != nil {
						t.Fatal(err)
					}
					held = append(held, add...)
					step = fmt.Sprintf("op %d: add %d", op, k)
				case x < 18 && len(held) > 0:
					var del []uint32
					for range 1 + rng.IntN(2) {
						i := rng.IntN(len(held))
						if rng.IntN(4) == 0 {
							// The widest rules: the covers of many regions.
							var wide []int
							for j, r := range held {
								if isAny(r.Src) || isAny(r.Dst) {
									wide = append(wide, j)
								}
							}
							if len(wide) > 0 {
								i = wide[rng.IntN(len(wide))]
							}
						}
						del = append(del, held[i].ID)
						spare = append(spare, held[i])
						held = slices.Delete(held, i, i+1)
					}
					del = append(del, 1<<31) // not in the set
					var n int
					s, n = s.Without(del...)
					if n != len(del)-1 {
						t.Fatalf("op %d: Without found %d of %d", op, n, len(del)-1)
					}
					step = fmt.Sprintf("op %d: delete %v", op, del)
				default:
					s = s.Compact()
					if a, d := s.Pending(); a+d != 0 {
						t.Fatalf("op %d: %d added, %d deleted pending after Compact", op, a, d)
					}
					step = fmt.Sprintf("op %d: compact", op)
				}
				check(step)
			}
			want := slices.Clone(held)
			slices.SortFunc(want, func(a, b Rule) int {
				if before(&a, &b) {
					return -1
				}
				return 1
			})
			if got := s.Values(); !slices.Equal(got, ids(want)) {
				t.Errorf("Values in rank order: %v, want %v", got, ids(want))
			}
		})
	}
}

// isAny reports whether s selects every address of its family.
func isAny(s Selector) bool {
	return s.From() == AnyIPv4().From() && s.To() == AnyIPv4().To() ||
		s.From() == AnyIPv6().From() && s.To() == AnyIPv6().To()
}

func ids(rules []Rule) []uint32 {
	v := make([]uint32, len(rules))
	for i := range rules {
		v[i] = rules[i].ID
	}
	return v
}

func TestSetErrors(t *testing.T) {
	a, b := rule(1, 4, 0, "10.0.0.0/8", "any"), rule(2, 4, 0, "any", "any")
	if _, err := NewSet([]Rule{a, a}, []int{1, 2}); !errors.Is(err, xe.Exist) {
		t.Errorf("NewSet with a duplicate ID: %v", err)
	}
	if _, err := NewSet([]Rule{a}, []int{1, 2}); !errors.Is(err, xe.BadParam) {
		t.Errorf("NewSet with more values than rules: %v", err)
	}
	s, err := NewSet([]Rule{a}, []int{1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.With([]Rule{a}, []int{1}); !errors.Is(err, xe.Exist) {
		t.Errorf("With of an ID in the base: %v", err)
	}
	s2, err := s.With([]Rule{b}, []int{2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.With([]Rule{b}, []int{2}); !errors.Is(err, xe.Exist) {
		t.Errorf("With of an ID in the delta: %v", err)
	}
	if _, err := s.With([]Rule{rule(3, 9, 0, "any", "any")}, []int{3}); !errors.Is(err, xe.BadParam) {
		t.Errorf("With of an invalid rule: %v", err)
	}
	// Deleting a base rule and adding its ID back is allowed.
	s3, n := s2.Without(1)
	if n != 1 {
		t.Fatalf("Without(1) found %d", n)
	}
	if _, err := s3.With([]Rule{a}, []int{1}); err != nil {
		t.Errorf("With of a deleted base ID: %v", err)
	}
}

func TestSetLookupAllocs(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	rules := genRules(rng, 2000, false)
	s, err := NewSet(rules[:1500], ids(rules[:1500]))
	if err != nil {
		t.Fatal(err)
	}
	s, _ = s.Without(ids(rules[:50])...)
	if s, err = s.With(rules[1500:], ids(rules[1500:])); err != nil {
		t.Fatal(err)
	}
	g := &gen{rng: rng, nets: (&gen{rng: rng}).poolFrom(rules)}
	pkts := genPackets(g, rules, 100)
	if allocs := testing.AllocsPerRun(10, func() {
		for i := range pkts {
			s.Lookup(&pkts[i])
		}
	}); allocs != 0 {
		t.Errorf("Set.Lookup allocates %v times per %d lookups", allocs, len(pkts))
	}
}
