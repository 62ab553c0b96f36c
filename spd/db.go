package spd

import (
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/sabre-ipsec/sabre/classify"
	"github.com/sabre-ipsec/sabre/internal/pubmap"
	"github.com/sabre-ipsec/sabre/xe"
)

// maxAdded and maxDeleted are how many policies may be added and deleted
// since the trees were last compacted before a writer waits for the
// compaction running in the background, or compacts itself. The added
// policies form a delta tree that every add rebuilds and every lookup also
// searches, so it stays small; a deleted policy costs only the lookups that
// find it, so more may wait.
const (
	maxAdded   = 256
	maxDeleted = 1024
)

// syncBelow is the size of a DB up to which writes rebuild the trees at
// once instead of in the background: below it a rebuild costs about as
// much as a delta.
const syncBelow = 256

// DB is the Security Policy Database. Lookup, Get and the other readers
// take no lock; writers serialize on one mutex and publish a new snapshot.
//
// A write costs what the policies it adds or deletes cost, not what the
// DB holds: the trees of the snapshot are classify.Sets, which take an
// added policy into a small delta tree and a deleted one into a fallback
// (see classify.Set), and a goroutine folds the changes into new trees in
// the background (compaction, O(n log n) for n policies) while lookups go
// on. Lookups always see exactly the policies of the last write. AddBatch
// of many policies rebuilds the trees at once.
//
// The zero DB is not ready for use; call NewDB.
type DB struct {
	mu     sync.Mutex
	snap   atomic.Pointer[snapshot]
	byID   *pubmap.Map[Policy]
	byName *pubmap.Map[Policy]
	seed   maphash.Seed
	nextID uint32
	// traffic holds the selected traffic of every policy, to refuse a
	// second one (XE_EXIST). Guarded by mu.
	traffic map[trafficKey]uint32

	// The compaction running in the background, if compacting: it started
	// from the snapshot of generation gen; log holds the writes since, to
	// apply to its result. A full rebuild bumps gen, so that a compaction
	// of an older generation is thrown away. compacted is broadcast when
	// a compaction ends. Guarded by mu.
	compacting bool
	gen        uint64
	log        []change
	compacted  *sync.Cond

	// notifyMu keeps OnChange calls in the order of the writes: a writer
	// takes it before it lets the next writer in.
	notifyMu sync.Mutex

	// OnChange, when set, is called after each write with the policies it
	// added and deleted (the messaging layer's POLICY_ADDED and
	// POLICY_DELETED), once the write is visible to readers and in the
	// order of the writes. It runs without the DB's write lock, so it may
	// read the DB, but it must not write to it. Set it before the DB is
	// shared.
	OnChange func(added, deleted []*Policy)
}

// snapshot is one immutable version of the database's trees.
type snapshot struct {
	out, in *classify.Set[*Policy]
}

// change is one write, replayed onto a compaction's result.
type change struct {
	added   []*Policy
	deleted []uint32
}

type trafficKey struct {
	prio, proto uint8
	src, dst    classify.Selector
}

func trafficOf(p *Policy) trafficKey { return trafficKey{p.Priority, p.Proto, p.Src, p.Dst} }

// NewDB returns an empty database.
func NewDB() *DB {
	db := &DB{
		nextID:  1,
		byID:    pubmap.New(func(p *Policy) uint64 { return uint64(p.ID) }),
		seed:    maphash.MakeSeed(),
		traffic: map[trafficKey]uint32{},
	}
	db.byName = pubmap.New(func(p *Policy) uint64 { return maphash.String(db.seed, p.Name) })
	db.compacted = sync.NewCond(&db.mu)
	s, _ := build(nil)
	db.snap.Store(s)
	return db
}

// build returns the snapshot of list, compacted.
func build(list []*Policy) (*snapshot, error) {
	outRules := make([]classify.Rule, len(list))
	inRules := make([]classify.Rule, len(list))
	for i, p := range list {
		outRules[i] = p.Rule(Outbound)
		inRules[i] = p.Rule(Inbound)
	}
	var s snapshot
	var err error
	if s.out, err = classify.NewSet(outRules, list); err != nil {
		return nil, err
	}
	if s.in, err = classify.NewSet(inRules, list); err != nil {
		return nil, err
	}
	return &s, nil
}

// Lookup returns the highest-priority policy that matches packet p in
// direction d, or nil. It allocates nothing.
func (db *DB) Lookup(d Direction, p *classify.Packet) *Policy {
	s := db.snap.Load()
	set := s.out
	if d == Inbound {
		set = s.in
	}
	pol, _ := set.Lookup(p)
	return pol
}

// Get returns the policy with the given ID, or nil.
func (db *DB) Get(id uint32) *Policy {
	pr := db.byID.Probe(uint64(id))
	for p := pr.Next(); p != nil; p = pr.Next() {
		if p.ID == id {
			return p
		}
	}
	return nil
}

// ByName returns the policy with the given name, or nil.
func (db *DB) ByName(name string) *Policy {
	if name == "" {
		return nil
	}
	pr := db.byName.Probe(maphash.String(db.seed, name))
	for p := pr.Next(); p != nil; p = pr.Next() {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// List returns the policies by priority, then ID.
func (db *DB) List() []*Policy { return db.snap.Load().out.Values() }

// Len returns the number of policies.
func (db *DB) Len() int { return db.snap.Load().out.Len() }

// Add validates p, completes its defaults, assigns its ID if zero and adds
// it: the reference's IPSecMgmtAddPolicy.
func (db *DB) Add(p Policy) (uint32, error) {
	ids, err := db.AddBatch([]Policy{p})
	if err != nil {
		return 0, err
	}
	return ids[0], nil
}

// AddBatch adds several policies at once. Either all are added or none.
func (db *DB) AddBatch(ps []Policy) ([]uint32, error) {
	db.mu.Lock()
	db.roomLocked(len(ps), 0)
	byID := make(map[uint32]bool, len(ps))
	byName := make(map[string]bool)
	traffic := make(map[trafficKey]uint32)
	nextID := db.nextID
	added := make([]*Policy, 0, len(ps))
	ids := make([]uint32, 0, len(ps))
	for i := range ps {
		p := ps[i] // copy: the caller's value is not retained
		if err := normalize(&p); err != nil {
			db.mu.Unlock()
			return nil, err
		}
		if p.ID == 0 {
			for db.Get(nextID) != nil || byID[nextID] || nextID == 0 {
				nextID++
			}
			p.ID = nextID
			nextID++
		} else if db.Get(p.ID) != nil || byID[p.ID] {
			db.mu.Unlock()
			return nil, xe.Errorf(xe.Exist, "spd: policy ID %d is in use", p.ID)
		} else if p.ID >= nextID {
			// Assigned IDs stay above every ID in use, so that among
			// equal priorities the policy added first wins.
			nextID = p.ID + 1
		}
		if p.Name != "" && (db.ByName(p.Name) != nil || byName[p.Name]) {
			db.mu.Unlock()
			return nil, xe.Errorf(xe.Exist, "spd: a policy named %q exists", p.Name)
		}
		// A policy that selects the same traffic at the same priority as
		// another could never match.
		k := trafficOf(&p)
		id, dup := db.traffic[k]
		if !dup {
			id, dup = traffic[k]
		}
		if dup {
			db.mu.Unlock()
			return nil, xe.Errorf(xe.Exist, "spd: policy %d selects the same traffic as policy %d (%v -> %v proto %d, priority %d)", p.ID, id, p.Src, p.Dst, p.Proto, p.Priority)
		}
		traffic[k] = p.ID
		byID[p.ID] = true
		if p.Name != "" {
			byName[p.Name] = true
		}
		added = append(added, &p)
		ids = append(ids, p.ID)
	}
	// Get finds the policies before Lookup does, as it did before the write.
	for _, p := range added {
		db.indexLocked(p)
	}
	if err := db.writeLocked(added, nil); err != nil {
		for _, p := range added {
			db.unindexLocked(p)
		}
		db.mu.Unlock()
		return nil, err
	}
	if nextID > db.nextID {
		db.nextID = nextID
	}
	db.publish(added, nil)
	return ids, nil
}

// indexLocked enters p in the indexes by ID, name and traffic.
func (db *DB) indexLocked(p *Policy) {
	db.byID.Insert(uint64(p.ID), p)
	if p.Name != "" {
		db.byName.Insert(maphash.String(db.seed, p.Name), p)
	}
	db.traffic[trafficOf(p)] = p.ID
}

// unindexLocked takes p out of the indexes.
func (db *DB) unindexLocked(p *Policy) {
	db.byID.Delete(uint64(p.ID), p)
	if p.Name != "" {
		db.byName.Delete(maphash.String(db.seed, p.Name), p)
	}
	delete(db.traffic, trafficOf(p))
}

// roomLocked waits, if a write adding or deleting k policies would let the
// pending changes grow past maxAdded or maxDeleted, for the running
// compaction to fold them into the trees. A writer calls it first, since it
// lets other writers in.
func (db *DB) roomLocked(added, deleted int) {
	for db.compacting && !db.fitsLocked(added, deleted) && added <= maxAdded && deleted <= maxDeleted {
		db.compacted.Wait()
	}
}

// fitsLocked reports whether added and deleted policies fit in the pending
// changes of the trees.
func (db *DB) fitsLocked(added, deleted int) bool {
	s := db.snap.Load()
	a, d := s.out.Pending()
	return a+added <= maxAdded && d+deleted <= maxDeleted
}

// pendingLocked reports whether the trees have changes to compact.
func (db *DB) pendingLocked() bool {
	s := db.snap.Load()
	a, d := s.out.Pending()
	return a+d > 0
}

// writeLocked publishes the snapshot with added and without deleted, which
// it holds. A small write goes into the trees' deltas and a compaction is
// started if none runs; a big one, or one that would let the deltas grow
// past maxAdded or maxDeleted, rebuilds the trees at once.
func (db *DB) writeLocked(added, deleted []*Policy) error {
	s := db.snap.Load()
	if s.out.Len()+len(added)-len(deleted) <= syncBelow || !db.fitsLocked(len(added), len(deleted)) {
		return db.rebuildLocked(added, deleted)
	}
	ns, err := apply(s, change{added: added, deleted: idsOf(deleted)})
	if err != nil {
		return err
	}
	db.snap.Store(ns)
	if db.compacting {
		db.log = append(db.log, change{added: added, deleted: idsOf(deleted)})
	} else {
		db.compactLocked()
	}
	return nil
}

func idsOf(ps []*Policy) []uint32 {
	ids := make([]uint32, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	return ids
}

// apply returns s changed by c.
func apply(s *snapshot, c change) (*snapshot, error) {
	n := *s
	if len(c.deleted) > 0 {
		n.out, _ = n.out.Without(c.deleted...)
		n.in, _ = n.in.Without(c.deleted...)
	}
	if len(c.added) > 0 {
		out := make([]classify.Rule, len(c.added))
		in := make([]classify.Rule, len(c.added))
		for i, p := range c.added {
			out[i], in[i] = p.Rule(Outbound), p.Rule(Inbound)
		}
		var err error
		if n.out, err = n.out.With(out, c.added); err != nil {
			return nil, err
		}
		if n.in, err = n.in.With(in, c.added); err != nil {
			return nil, err
		}
	}
	return &n, nil
}

// rebuildLocked publishes compacted trees of the current policies with
// added and without deleted, and makes a running compaction's result void.
func (db *DB) rebuildLocked(added, deleted []*Policy) error {
	list := db.snap.Load().out.Values()
	if len(deleted) > 0 {
		gone := make(map[*Policy]bool, len(deleted))
		for _, p := range deleted {
			gone[p] = true
		}
		list = slices.DeleteFunc(list, func(p *Policy) bool { return gone[p] })
	}
	s, err := build(append(list, added...))
	if err != nil {
		return err
	}
	db.snap.Store(s)
	db.gen++
	db.log = nil
	return nil
}

// compactLocked starts compacting the current snapshot in the background
// if it has changes.
func (db *DB) compactLocked() {
	s := db.snap.Load()
	if db.compacting || !db.pendingLocked() {
		return
	}
	db.compacting = true
	db.log = nil
	gen := db.gen
	go func() {
		// One goroutine: the writers keep the other cores.
		c := &snapshot{out: s.out.Compact(), in: s.in.Compact()}
		// Replay the writes made meanwhile, most of them without the lock
		// (a delete builds a fallback), the last few under it.
		applied := 0
		db.mu.Lock()
		defer db.mu.Unlock()
		var err error
		for err == nil && db.gen == gen && len(db.log)-applied > 4 {
			batch := slices.Clone(db.log[applied:])
			db.mu.Unlock()
			c, err = replay(c, batch)
			db.mu.Lock()
			applied += len(batch)
		}
		db.compacting = false
		defer db.compacted.Broadcast()
		if err == nil && gen == db.gen {
			c, err = replay(c, db.log[applied:])
		}
		if err != nil || gen != db.gen {
			// A rebuild made it void; or, which the writes' checks
			// rule out, a write did not apply: the snapshot serves on
			// with its changes pending.
			return
		}
		db.log = nil
		db.snap.Store(c)
		db.compactLocked()
	}()
}

// replay applies to c the writes of log, which applied to the snapshot c
// was compacted from.
func replay(c *snapshot, log []change) (*snapshot, error) {
	for _, ch := range log {
		var err error
		if c, err = apply(c, ch); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// WaitCompacted waits until no compaction runs and the trees have no
// pending changes, so that lookups cost one tree's each: for benchmarks
// and for callers that load many policies one by one and then serve.
func (db *DB) WaitCompacted() {
	db.mu.Lock()
	defer db.mu.Unlock()
	for {
		if !db.compacting {
			if !db.pendingLocked() {
				return
			}
			db.compactLocked()
		}
		db.compacted.Wait()
	}
}

// Delete removes the policy with the given ID.
func (db *DB) Delete(id uint32) error {
	return db.deleteWhere(func() []*Policy {
		if p := db.Get(id); p != nil {
			return []*Policy{p}
		}
		return nil
	}, func() error {
		return xe.Errorf(xe.PolicyNotFound, "spd: no policy %d", id)
	})
}

// DeleteByName removes the policy with the given name.
func (db *DB) DeleteByName(name string) error {
	return db.deleteWhere(func() []*Policy {
		if p := db.ByName(name); p != nil {
			return []*Policy{p}
		}
		return nil
	}, func() error {
		return xe.Errorf(xe.PolicyNotFound, "spd: no policy named %q", name)
	})
}

// Flush removes every policy and returns how many there were.
func (db *DB) Flush() int {
	n := 0
	db.deleteWhere(func() []*Policy {
		all := db.snap.Load().out.Values()
		n = len(all)
		return all
	}, func() error { return nil })
	return n
}

// deleteWhere deletes the policies find returns, called with the write
// lock held.
func (db *DB) deleteWhere(find func() []*Policy, notFound func() error) error {
	db.mu.Lock()
	db.roomLocked(0, 1)
	deleted := find()
	if len(deleted) == 0 {
		db.mu.Unlock()
		return notFound()
	}
	if err := db.writeLocked(nil, deleted); err != nil {
		db.mu.Unlock()
		return err
	}
	for _, p := range deleted {
		db.unindexLocked(p)
	}
	db.publish(nil, deleted)
	return nil
}

// publish releases the write lock taken by the caller, whose write is
// visible, and tells OnChange.
func (db *DB) publish(added, deleted []*Policy) {
	db.notifyMu.Lock()
	db.mu.Unlock()
	defer db.notifyMu.Unlock()
	if db.OnChange != nil {
		db.OnChange(added, deleted)
	}
}

// BySelectors returns the policies that select exactly the traffic src ->
// dst of protocol proto, by priority: one at most per priority, since two
// that select the same traffic at one priority are refused. It finds them
// in an index, for commands such as `ipsec addsa` that name a policy by its
// selectors.
func (db *DB) BySelectors(src, dst classify.Selector, proto uint8) []*Policy {
	var found []*Policy
	db.mu.Lock()
	defer db.mu.Unlock()
	for prio := uint8(PriorityHighest); prio <= PriorityLowest; prio++ {
		if id, ok := db.traffic[trafficKey{prio, proto, src, dst}]; ok {
			if p := db.Get(id); p != nil {
				found = append(found, p)
			}
		}
	}
	return found
}
