package classify

import (
	"cmp"
	"maps"
	"slices"

	"github.com/sabre-ipsec/sabre/xe"
)

// Set is an immutable set of rules, each with a value, that classifies
// packets exactly as a Tree built from its rules would, and that With and
// Without derive changed Sets from in time that does not grow with the
// number of rules: a Set is a base Tree built once, the rules deleted from
// the base since, and a small delta Tree of the rules added since. Compact
// folds the changes into a new base in O(n log n), for a caller to run in
// the background (the spd package does) while it keeps serving lookups
// from the Set it has.
//
// A deleted base rule cannot simply be skipped by the base Tree: where it
// covered a region, the Tree dropped the rules it hides. So Without keeps,
// for each deleted base rule, a fallback Tree of the base rules ranked after
// it that overlap it; a lookup whose base answer is deleted asks the
// fallback, and that answer's fallback if it was deleted too. Building a
// fallback costs a scan of the base rules and a Tree of the rules found,
// which for a narrow rule are few and for a wide rule of high priority can
// be most of them.
//
// Rules are ranked as in a Tree; their IDs must be unique within a Set.
type Set[V any] struct {
	base     *Tree
	baseVals []V
	baseIdx  map[uint32]int32 // rule ID -> index in base; shared by derived Sets
	// scan holds the base rules as compact boxes, for Without's scan.
	scan []scanBox
	// gone holds the deleted base rules by index, nil when there are none.
	gone map[int32]*fallback
	// delta holds the rules added since base was built, nil when none.
	delta     *Tree
	deltaVals []V
}

// fallback answers for a deleted base rule.
type fallback struct {
	tree *Tree   // the base rules ranked after the deleted one that overlap it
	idx  []int32 // index in tree -> index in base
}

// NewSet builds the Set of rules with values vals (len(vals) ==
// len(rules)). It fails like Build, or with xe.Exist if two rules share an
// ID.
func NewSet[V any](rules []Rule, vals []V) (*Set[V], error) {
	if len(rules) != len(vals) {
		return nil, xe.Errorf(xe.BadParam, "classify: %d rules but %d values", len(rules), len(vals))
	}
	t, err := Build(rules)
	if err != nil {
		return nil, err
	}
	idx := make(map[uint32]int32, len(rules))
	for i := range rules {
		if _, dup := idx[rules[i].ID]; dup {
			return nil, xe.Errorf(xe.Exist, "classify: two rules with ID %d", rules[i].ID)
		}
		idx[rules[i].ID] = int32(i)
	}
	sc := make([]scanBox, len(rules))
	for i := range rules {
		sc[i] = makeScanBox(&rules[i])
	}
	return &Set[V]{base: t, baseVals: slices.Clone(vals), baseIdx: idx, scan: sc}, nil
}

// scanBox is a rule as Without scans it: its rank key and, for IPv4, its
// ranges; an IPv6 rule is compared through ruleBox.
type scanBox struct {
	key                        uint64 // priority<<32 | ID: ranks as before
	srcLo, srcHi, dstLo, dstHi uint32
	spLo, spHi, dpLo, dpHi     uint16
	pLo, pHi                   uint8
	v6                         bool
}

func makeScanBox(r *Rule) scanBox {
	sb := scanBox{key: uint64(r.Priority)<<32 | uint64(r.ID), v6: !r.Src.Is4()}
	if sb.v6 {
		return sb
	}
	b := ruleBox(r)
	sb.srcLo, sb.srcHi = uint32(b.lo[dimSrc].lo), uint32(b.hi[dimSrc].lo)
	sb.dstLo, sb.dstHi = uint32(b.lo[dimDst].lo), uint32(b.hi[dimDst].lo)
	sb.spLo, sb.spHi = uint16(b.lo[dimSrcPort].lo), uint16(b.hi[dimSrcPort].lo)
	sb.dpLo, sb.dpHi = uint16(b.lo[dimDstPort].lo), uint16(b.hi[dimDstPort].lo)
	sb.pLo, sb.pHi = uint8(b.lo[dimProto].lo), uint8(b.hi[dimProto].lo)
	return sb
}

// overlaps4 reports whether some packet lies in both IPv4 rules a and b.
func (a *scanBox) overlaps4(b *scanBox) bool {
	return a.srcLo <= b.srcHi && b.srcLo <= a.srcHi && a.dstLo <= b.dstHi && b.dstLo <= a.dstHi &&
		a.spLo <= b.spHi && b.spLo <= a.spHi && a.dpLo <= b.dpHi && b.dpLo <= a.dpHi &&
		a.pLo <= b.pHi && b.pLo <= a.pHi
}

// Len returns the number of rules in s.
func (s *Set[V]) Len() int {
	n := s.base.Len() - len(s.gone)
	if s.delta != nil {
		n += s.delta.Len()
	}
	return n
}

// Pending returns the changes since the base was built: the rules added
// (each With rebuilds their tree, and a lookup searches it) and the base
// rules deleted (a lookup that finds one asks its fallback). Compact makes
// both 0.
func (s *Set[V]) Pending() (added, deleted int) {
	if s.delta != nil {
		added = s.delta.Len()
	}
	return added, len(s.gone)
}

// before reports whether a ranks before b: priority, then ID.
func before(a, b *Rule) bool {
	return cmp.Or(cmp.Compare(a.Priority, b.Priority), cmp.Compare(a.ID, b.ID)) < 0
}

// Lookup returns the value of the best rule that p matches, as Tree.Lookup
// picks it. It does not allocate and takes no locks.
func (s *Set[V]) Lookup(p *Packet) (v V, ok bool) {
	i, ok := s.base.Lookup(p)
	if ok && s.gone != nil {
		// Each step goes to a rule ranked after the last: it ends.
		for fb := s.gone[int32(i)]; fb != nil; fb = s.gone[int32(i)] {
			j, found := fb.tree.Lookup(p)
			if !found {
				ok = false
				break
			}
			i = int(fb.idx[j])
		}
	}
	if s.delta != nil {
		if j, found := s.delta.Lookup(p); found && (!ok || before(&s.delta.rules[j], &s.base.rules[i])) {
			return s.deltaVals[j], true
		}
	}
	if ok {
		return s.baseVals[i], true
	}
	return v, false
}

// Rule returns the rule with the given ID and its value.
func (s *Set[V]) Rule(id uint32) (r Rule, v V, ok bool) {
	if i, in := s.baseIdx[id]; in && s.gone[i] == nil {
		return s.base.rules[i], s.baseVals[i], true
	}
	if s.delta != nil {
		if j := slices.IndexFunc(s.delta.rules, func(r Rule) bool { return r.ID == id }); j >= 0 {
			return s.delta.rules[j], s.deltaVals[j], true
		}
	}
	return r, v, false
}

// Values returns the values of the rules in rank order.
func (s *Set[V]) Values() []V {
	vals := make([]V, 0, s.Len())
	var delta []int32
	if s.delta != nil {
		delta = s.delta.order
	}
	// Merge the base and the delta, both in rank order.
	for _, i := range s.base.order {
		if s.gone[i] != nil {
			continue
		}
		for len(delta) > 0 && before(&s.delta.rules[delta[0]], &s.base.rules[i]) {
			vals = append(vals, s.deltaVals[delta[0]])
			delta = delta[1:]
		}
		vals = append(vals, s.baseVals[i])
	}
	for _, j := range delta {
		vals = append(vals, s.deltaVals[j])
	}
	return vals
}

// With returns s with rules added, with values vals. It costs a Tree of the
// rules added since the base was built. It fails like Build, or with
// xe.Exist if an ID is in use.
func (s *Set[V]) With(rules []Rule, vals []V) (*Set[V], error) {
	if len(rules) != len(vals) {
		return nil, xe.Errorf(xe.BadParam, "classify: %d rules but %d values", len(rules), len(vals))
	}
	var dr []Rule
	var dv []V
	if s.delta != nil {
		dr, dv = slices.Clone(s.delta.rules), slices.Clone(s.deltaVals)
	}
	for i := range rules {
		id := rules[i].ID
		if _, _, in := s.Rule(id); in || slices.ContainsFunc(rules[:i], func(r Rule) bool { return r.ID == id }) {
			return nil, xe.Errorf(xe.Exist, "classify: rule ID %d is in use", id)
		}
	}
	dr, dv = append(dr, rules...), append(dv, vals...)
	d, err := Build(dr)
	if err != nil {
		return nil, err
	}
	n := *s
	n.delta, n.deltaVals = d, dv
	return &n, nil
}

// Without returns s without the rules with the given IDs, and how many of
// them it had. It costs a Tree of the remaining added rules and, for each
// deleted base rule, a scan of the base and a Tree of the base rules ranked
// after it that overlap it.
func (s *Set[V]) Without(ids ...uint32) (*Set[V], int) {
	n := *s
	found := 0
	var dr []Rule
	var dv []V
	if s.delta != nil {
		dr, dv = s.delta.rules, s.deltaVals
	}
	deltaChanged, goneChanged := false, false
	for _, id := range ids {
		if i, in := n.baseIdx[id]; in && n.gone[i] == nil {
			if !goneChanged {
				n.gone = maps.Clone(s.gone)
				if n.gone == nil {
					n.gone = map[int32]*fallback{}
				}
				goneChanged = true
			}
			n.gone[i] = s.fallbackOf(i)
			found++
			continue
		}
		if j := slices.IndexFunc(dr, func(r Rule) bool { return r.ID == id }); j >= 0 {
			if !deltaChanged {
				dr, dv = slices.Clone(dr), slices.Clone(dv)
				deltaChanged = true
			}
			dr, dv = slices.Delete(dr, j, j+1), slices.Delete(dv, j, j+1)
			found++
		}
	}
	if deltaChanged {
		n.delta, n.deltaVals = nil, nil
		if len(dr) > 0 {
			// The rules were valid when added.
			n.delta, _ = Build(dr)
			n.deltaVals = dv
		}
	}
	return &n, found
}

// fallbackOf builds the fallback of base rule i: the base rules ranked after
// it that overlap it, deleted or not (a lookup steps past deleted ones).
func (s *Set[V]) fallbackOf(i int32) *fallback {
	r := &s.base.rules[i]
	sr := &s.scan[i]
	fb := &fallback{}
	var rules []Rule
	if !sr.v6 {
		for j := range s.scan {
			if q := &s.scan[j]; !q.v6 && q.key > sr.key && q.overlaps4(sr) {
				rules = append(rules, s.base.rules[j])
				fb.idx = append(fb.idx, int32(j))
			}
		}
	} else {
		bi := ruleBox(r)
		for j := range s.base.rules {
			q := &s.base.rules[j]
			if !s.scan[j].v6 || s.scan[j].key <= sr.key {
				continue
			}
			if bq := ruleBox(q); bq.overlaps(&bi) {
				rules = append(rules, *q)
				fb.idx = append(fb.idx, int32(j))
			}
		}
	}
	// The rules were valid when the base was built.
	fb.tree, _ = Build(rules)
	return fb
}

// overlaps reports whether some packet lies in both a and b.
func (a *box) overlaps(b *box) bool {
	for d := range numDims {
		if b.hi[d].less(a.lo[d]) || a.hi[d].less(b.lo[d]) {
			return false
		}
	}
	return true
}

// Compact returns s with its changes folded into a new base: a Set whose
// lookups cost one Tree's. It costs O(n log n) for n rules.
func (s *Set[V]) Compact() *Set[V] {
	rules := make([]Rule, 0, s.Len())
	vals := make([]V, 0, s.Len())
	for i := range s.base.rules {
		if s.gone[int32(i)] == nil {
			rules = append(rules, s.base.rules[i])
			vals = append(vals, s.baseVals[i])
		}
	}
	if s.delta != nil {
		rules = append(rules, s.delta.rules...)
		vals = append(vals, s.deltaVals...)
	}
	// The rules were valid and their IDs unique when added.
	n, _ := NewSet(rules, vals)
	return n
}
