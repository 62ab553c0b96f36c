package classify

import (
	"cmp"
	"encoding/binary"
	"math"
	"slices"
	"unsafe"
)

// The classification tree is a decision tree in the style of HiCuts and
// HyperCuts over five dimensions (source address, destination address,
// protocol, source port, destination port), each an unsigned integer of its
// width (addresses are 128 bits; IPv4 uses the low 32). There is one tree
// per address family.
//
// Every node stands for a region: in each dimension an aligned power-of-two
// block of values. Rules are ranked by (priority, ID, index), so the best
// matching rule is the one of minimum rank, and a lookup is a min over
// candidates. Building a node from the rules that overlap its region:
//
//   - Cover. Of the rules that cover the whole region, only the best can win
//     there, and no rule ranked after it can. The node keeps that rule as
//     its cover and drops the dominated ones. This is what keeps "any/any"
//     rules from being copied into every leaf.
//   - Leaf. With leafSize rules or fewer the node is a leaf: the rules in
//     rank order (the cover last), scanned until the first match or a rank
//     no better than the best found so far. Small leaves live in the child
//     slot of their parent, so reaching one costs one memory access.
//   - Cut. Otherwise the node cuts one dimension into 2^k equal children on
//     k bits of the packet field (child = field>>shift & mask). Dimension
//     and k minimize the rule-weighted mean child size plus the rules set
//     aside (see below), with at most spaceFactor copies per rule and
//     within the memory budget.
//   - Side tree. Rules that span the region in the cut dimension, or more
//     than maxCopies children, are not copied into the children: they form
//     a side tree over the same region, which cuts another dimension, and a
//     lookup follows both. This is how "host to any" and "any to host" rules
//     coexist without either being copied into every child of the other's
//     cut.
//   - Guard. When the rules a cut keeps lie in a smaller aligned block of the
//     cut dimension, the node first checks the packet's bits above the block
//     (a packet outside it matches none of them) and cuts below, so that
//     clustered rules (one /48 of IPv6) do not need a node per few bits. When
//     they all have one value (one protocol, one port), a guard alone turns
//     the rules covering the rest of the region into covers; the rules wide
//     in that dimension are then copied into the one child, and a packet
//     that fails the guard goes to their side tree instead.
//
// Each node records the best rank below it, so a lookup skips what cannot
// beat the best it has. Equal leaves are shared. The tree's memory is bounded
// by bytesPerRule per rule: each subtree gets a share of its parent's budget
// in proportion to its rules, and what a subtree leaves unused passes to
// its siblings; a node that cannot cut within its share is a leaf. Depth is
// bounded by maxDepth. The bounds cost lookup time, never correctness: a
// leaf holds every rule that may match in its region.
const (
	leafSize     = 6   // rules a node may hold before it is cut
	bigLeaf      = 32  // rules a node holds only when no cut is possible
	spaceFactor  = 4   // copies a cut may make, per rule at the node
	maxCopies    = 8   // a rule spanning more children goes to the side tree
	sideCost     = 2   // cost of one more path to follow, in rules scanned
	bytesPerRule = 320 // memory budget of the tree per rule
)

const (
	slotBytes  = 4
	nodeBytes  = int(unsafe.Sizeof(node{}))
	minBudget  = 1 << 16
	maxCutBits = 16 // at most 65536 children per node
	maxDepth   = 56 // a lookup's stack of pending side trees is this deep
)

// noRule is the rank of "no rule": ranks are compared with <, so it loses
// to every rule.
const noRule = math.MaxInt32

// The dimensions.
const (
	dimSrc = iota
	dimDst
	dimProto
	dimSrcPort
	dimDstPort
	numDims
)

var dimWidth = [numDims]int{128, 128, 8, 16, 16}

// The words of a lookup key: each dimension's value, addresses as two
// words.
const (
	wSrcHi = iota
	wSrcLo
	wDstHi
	wDstLo
	wProto
	wSrcPort
	wDstPort
	numWords
)

// key is a packet as the tree reads it.
type key [numWords + 1]uint64

// box is a rule as ranges, inclusive, one per dimension.
type box struct{ lo, hi [numDims]u128 }

// region is a node's region: in each dimension the block of values that
// agree with lo on the plen leading bits of the dimension's width.
type region struct {
	lo   [numDims]u128
	plen [numDims]int
}

func (r *region) hi(d int) u128 { return r.lo[d].or(lowOnes(dimWidth[d] - r.plen[d])) }

func (b *box) covers(r *region) bool {
	for d := range numDims {
		if r.lo[d].less(b.lo[d]) || b.hi[d].less(r.hi(d)) {
			return false
		}
	}
	return true
}

// A slot refers to a subtree: 0 is the empty tree, a positive slot is an
// index in nodes, and a negative slot ^(start<<slotCountBits | count) is a
// leaf of count entries from start, stored without a node so that reaching
// it costs one memory access. Leaves too big for that are nodes whose
// n is not 0.
type slot = int32

const (
	slotCountBits = 6
	maxSlotCount  = 1<<slotCountBits - 1
	maxSlotStart  = 1<<(31-slotCountBits) - 1
)

// node is an internal node of the tree, or a big leaf when n is not 0.
type node struct {
	guardMask, guardVal uint64 // field>>guardShift & guardMask must be guardVal
	cover               int32  // best rule covering the region, or noRule
	min                 int32  // no rule below ranks better than min
	side                slot   // the side tree
	sideMin             int32  // no rule in the side tree ranks better
	base                int32  // first child in children, or first leaf entry
	cutMask             uint32 // child = field>>cutShift & cutMask
	n                   int32  // big leaf: number of entries
	cutWord, cutShift   uint8
	guardWord           uint8
	guardShift          uint8
	sideOnMiss          bool // visit side only when the guard fails
}

// entry4 is a rule in an IPv4 leaf: each range as start and span, so a
// match is one unsigned comparison per dimension.
type entry4 struct {
	srcLo, srcSpan uint32
	dstLo, dstSpan uint32
	spLo, spSpan   uint16
	dpLo, dpSpan   uint16
	pLo, pSpan     uint8
	rank           int32
}

// entry6 is a rule in an IPv6 leaf.
type entry6 struct {
	srcLo, srcSpan u128
	dstLo, dstSpan u128
	spLo, spSpan   uint16
	dpLo, dpSpan   uint16
	pLo, pSpan     uint8
	rank           int32
}

// family is the tree of one address family. Node 0 is unused.
type family struct {
	root     slot
	nodes    []node
	children []int32
	e4       []entry4
	e6       []entry6
	is6      bool
	depth    int
}

// Tree is a classification tree built from a set of rules. It is immutable
// and safe for concurrent Lookups.
type Tree struct {
	rules  []Rule
	order  []int32 // rank -> index in rules
	v4, v6 family
}

// Build builds the tree of rules. Lookup reports matches by index into
// rules; Build keeps its own copy of the slice.
func Build(rules []Rule) (*Tree, error) {
	for i := range rules {
		if err := rules[i].Validate(); err != nil {
			return nil, err
		}
	}
	t := &Tree{rules: slices.Clone(rules), order: make([]int32, len(rules))}
	for i := range t.order {
		t.order[i] = int32(i)
	}
	slices.SortFunc(t.order, func(a, b int32) int {
		ra, rb := &rules[a], &rules[b]
		return cmp.Or(cmp.Compare(ra.Priority, rb.Priority), cmp.Compare(ra.ID, rb.ID), cmp.Compare(a, b))
	})
	boxes := make([]box, len(rules))
	var ids4, ids6 []int32
	seen := make(map[box]struct{}, len(rules))
	for rank, i := range t.order {
		r := &rules[i]
		b := ruleBox(r)
		boxes[rank] = b
		// A rule with the same ranges as a better one can never win.
		if _, dup := seen[b]; dup {
			continue
		}
		seen[b] = struct{}{}
		if r.Src.Is4() {
			ids4 = append(ids4, int32(rank))
		} else {
			ids6 = append(ids6, int32(rank))
		}
	}
	t.v4 = buildFamily(boxes, ids4, false)
	t.v6 = buildFamily(boxes, ids6, true)
	return t, nil
}

// Len returns the number of rules the tree was built from.
func (t *Tree) Len() int { return len(t.rules) }

// Rule returns the i'th rule the tree was built from.
func (t *Tree) Rule(i int) Rule { return t.rules[i] }

// Stats describes the shape and size of a Tree.
type Stats struct {
	Nodes    int // internal nodes and leaves, both families
	Entries  int // rules held in leaves, copies counted
	Children int // child slots of internal nodes
	Depth    int // deepest node, counting side trees as children
	Bytes    int // memory of nodes, child slots and leaf entries
}

// Stats returns the shape and size of t.
func (t *Tree) Stats() Stats {
	var s Stats
	for _, f := range []*family{&t.v4, &t.v6} {
		s.Nodes += len(f.nodes)
		s.Entries += len(f.e4) + len(f.e6)
		s.Children += len(f.children)
		s.Depth = max(s.Depth, f.depth)
		s.Bytes += len(f.nodes)*int(unsafe.Sizeof(node{})) + len(f.children)*4 +
			len(f.e4)*int(unsafe.Sizeof(entry4{})) + len(f.e6)*int(unsafe.Sizeof(entry6{}))
	}
	return s
}

func ruleBox(r *Rule) box {
	var b box
	b.lo[dimSrc], b.hi[dimSrc] = addrU128(r.Src.from), addrU128(r.Src.to)
	b.lo[dimDst], b.hi[dimDst] = addrU128(r.Dst.from), addrU128(r.Dst.to)
	if r.Proto == 0 {
		b.hi[dimProto] = u128{0, 255}
	} else {
		b.lo[dimProto], b.hi[dimProto] = u128{0, uint64(r.Proto)}, u128{0, uint64(r.Proto)}
	}
	b.lo[dimSrcPort], b.hi[dimSrcPort] = u128{0, uint64(r.Src.portLo)}, u128{0, uint64(r.Src.portHi)}
	b.lo[dimDstPort], b.hi[dimDstPort] = u128{0, uint64(r.Dst.portLo)}, u128{0, uint64(r.Dst.portHi)}
	return b
}

// builder builds the tree of one family.
type builder struct {
	boxes      []box
	v6         bool
	f          family
	leaves     map[string]slot // leaf contents -> leaf, to share equal leaves
	entryBytes int             // size of a leaf entry
	keyBuf     []byte

	// scratch of evalCut, one slot per rule of the node
	wide       []bool
	offA, offB []uint64
	diff       []int32
}

func buildFamily(boxes []box, ids []int32, v6 bool) family {
	b := &builder{
		boxes:      boxes,
		v6:         v6,
		leaves:     make(map[string]slot),
		entryBytes: int(unsafe.Sizeof(entry4{})),
	}
	b.f.nodes = append(b.f.nodes, node{}) // slot 0 is the empty tree
	var r region
	if !v6 {
		// IPv4 addresses are the low 32 bits: the first 96 are zero.
		r.plen[dimSrc], r.plen[dimDst] = 96, 96
	}
	b.f.is6 = v6
	if v6 {
		b.entryBytes = int(unsafe.Sizeof(entry6{}))
	}
	b.f.root = b.build(&r, ids, 0, bytesPerRule*len(ids)+minBudget)
	return b.f
}

// build builds the subtree of region r holding rules ids (ranks, ascending)
// within budget bytes (leaves excepted: every rule must be stored) and
// returns its slot.
func (b *builder) build(r *region, ids []int32, depth, budget int) slot {
	b.f.depth = max(b.f.depth, depth)
	cover := int32(noRule)
	for i, id := range ids {
		if b.boxes[id].covers(r) {
			cover, ids = id, ids[:i] // the rest can never win in r
			break
		}
	}
	if len(ids) <= leafSize || depth >= maxDepth {
		return b.leaf(cover, ids)
	}
	c, ok := b.chooseCut(r, ids, budget)
	if !ok {
		return b.leaf(cover, ids)
	}
	lists, side := b.distribute(r, ids, &c)

	n := slot(len(b.f.nodes))
	nk := 1 << c.k
	base := len(b.f.children)
	b.f.nodes = append(b.f.nodes, node{
		cover:      cover,
		min:        min(cover, ids[0]),
		sideMin:    noRule,
		base:       int32(base),
		cutMask:    uint32(nk - 1),
		cutWord:    uint8(c.word),
		cutShift:   uint8(c.avail - c.k),
		guardWord:  uint8(c.guardWord),
		guardShift: uint8(c.guardShift),
		guardMask:  c.guardMask,
		guardVal:   c.guardVal,
	})
	b.f.children = append(b.f.children, make([]slot, nk)...)

	// The rest of the budget goes to the subtrees in proportion to their
	// rules, so that no subtree starves the others; what a subtree leaves
	// unused (a leaf needs only its entries) goes to the ones after it.
	pool := budget - nk*slotBytes - nodeBytes
	rulesLeft := len(side)
	for _, l := range lists {
		rulesLeft += len(l)
	}
	sub := func(r *region, ids []int32) slot {
		share := int(float64(pool) * float64(len(ids)) / float64(rulesLeft))
		before := b.bytes()
		s := b.build(r, ids, depth+1, share)
		pool -= b.bytes() - before
		rulesLeft -= len(ids)
		return s
	}

	// With copies of the wide rules in the children, the children without
	// other rules and the packets outside the guard share their subtree.
	var shared slot
	if c.replicate && len(side) > 0 {
		shared = sub(r, side)
	}
	child := *r
	child.plen[c.dim] = c.cp + c.k
	for j := range nk {
		if len(lists[j]) == 0 {
			b.f.children[base+j] = shared
			continue
		}
		child.lo[c.dim] = c.childLo(j)
		b.f.children[base+j] = sub(&child, lists[j])
	}
	switch {
	case len(side) == 0:
	case !c.replicate:
		b.f.nodes[n].side = sub(r, side)
		b.f.nodes[n].sideMin = side[0]
	case c.guardMask != 0:
		b.f.nodes[n].side = shared
		b.f.nodes[n].sideMin = side[0]
		b.f.nodes[n].sideOnMiss = true
	}
	return n
}

// bytes returns the memory the family takes so far.
func (b *builder) bytes() int {
	return len(b.f.nodes)*nodeBytes + len(b.f.children)*slotBytes + (len(b.f.e4)+len(b.f.e6))*b.entryBytes
}

// leaf returns a leaf holding ids and then cover, sharing an equal leaf
// built before. The cover is scanned last like any rule: it matches every
// packet that reaches the leaf.
func (b *builder) leaf(cover int32, ids []int32) slot {
	if cover != noRule {
		ids = append(ids[:len(ids):len(ids)], cover)
	}
	if len(ids) == 0 {
		return 0
	}
	k := b.keyBuf[:0]
	for _, id := range ids {
		k = binary.LittleEndian.AppendUint32(k, uint32(id))
	}
	b.keyBuf = k
	if s, ok := b.leaves[string(k)]; ok {
		return s
	}
	start := len(b.f.e4)
	if b.v6 {
		start = len(b.f.e6)
		for _, id := range ids {
			b.f.e6 = append(b.f.e6, makeEntry6(&b.boxes[id], id))
		}
	} else {
		for _, id := range ids {
			b.f.e4 = append(b.f.e4, makeEntry4(&b.boxes[id], id))
		}
	}
	var s slot
	if len(ids) <= maxSlotCount && start <= maxSlotStart {
		s = ^slot(start<<slotCountBits | len(ids))
	} else {
		s = slot(len(b.f.nodes))
		b.f.nodes = append(b.f.nodes, node{cover: noRule, min: ids[0], sideMin: noRule, base: int32(start), n: int32(len(ids))})
	}
	b.leaves[string(k)] = s
	return s
}

func makeEntry4(bx *box, rank int32) entry4 {
	return entry4{
		srcLo: uint32(bx.lo[dimSrc].lo), srcSpan: uint32(bx.hi[dimSrc].lo - bx.lo[dimSrc].lo),
		dstLo: uint32(bx.lo[dimDst].lo), dstSpan: uint32(bx.hi[dimDst].lo - bx.lo[dimDst].lo),
		spLo: uint16(bx.lo[dimSrcPort].lo), spSpan: uint16(bx.hi[dimSrcPort].lo - bx.lo[dimSrcPort].lo),
		dpLo: uint16(bx.lo[dimDstPort].lo), dpSpan: uint16(bx.hi[dimDstPort].lo - bx.lo[dimDstPort].lo),
		pLo: uint8(bx.lo[dimProto].lo), pSpan: uint8(bx.hi[dimProto].lo - bx.lo[dimProto].lo),
		rank: rank,
	}
}

func makeEntry6(bx *box, rank int32) entry6 {
	return entry6{
		srcLo: bx.lo[dimSrc], srcSpan: bx.hi[dimSrc].sub(bx.lo[dimSrc]),
		dstLo: bx.lo[dimDst], dstSpan: bx.hi[dimDst].sub(bx.lo[dimDst]),
		spLo: uint16(bx.lo[dimSrcPort].lo), spSpan: uint16(bx.hi[dimSrcPort].lo - bx.lo[dimSrcPort].lo),
		dpLo: uint16(bx.lo[dimDstPort].lo), dpSpan: uint16(bx.hi[dimDstPort].lo - bx.lo[dimDstPort].lo),
		pLo: uint8(bx.lo[dimProto].lo), pSpan: uint8(bx.hi[dimProto].lo - bx.lo[dimProto].lo),
		rank: rank,
	}
}
