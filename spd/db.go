package spd

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/sabre-ipsec/sabre/classify"
	"github.com/sabre-ipsec/sabre/xe"
)

// DB is the Security Policy Database. Lookup, Get and the other readers
// take no lock; writers serialize on one mutex and publish a new snapshot.
// Every write rebuilds the classification trees, in O(n log n) for n
// policies (about half a second for 100,000), so add many policies at once
// with AddBatch: adding them one by one would be O(n² log n).
//
// The zero DB is not ready for use; call NewDB.
type DB struct {
	mu     sync.Mutex
	snap   atomic.Pointer[snapshot]
	nextID uint32
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

// snapshot is one immutable version of the database.
type snapshot struct {
	list []*Policy // by priority, then ID
	byID map[uint32]*Policy
	// dense indexes policies by ID when IDs are small, as assigned ones
	// are: the engine reads a policy per inbound packet.
	dense  []*Policy
	byName map[string]*Policy
	out    *classify.Tree
	in     *classify.Tree
	// outPol and inPol map a tree's rule index to its policy.
	outPol, inPol []*Policy
}

// NewDB returns an empty database.
func NewDB() *DB {
	db := &DB{nextID: 1}
	s, _ := build(nil)
	db.snap.Store(s)
	return db
}

func build(list []*Policy) (*snapshot, error) {
	s := &snapshot{
		list:   list,
		byID:   make(map[uint32]*Policy, len(list)),
		byName: map[string]*Policy{},
	}
	outRules := make([]classify.Rule, len(list))
	inRules := make([]classify.Rule, len(list))
	for i, p := range list {
		s.byID[p.ID] = p
		if p.Name != "" {
			s.byName[p.Name] = p
		}
		outRules[i] = p.Rule(Outbound)
		inRules[i] = p.Rule(Inbound)
	}
	var err error
	if s.out, err = classify.Build(outRules); err != nil {
		return nil, err
	}
	if s.in, err = classify.Build(inRules); err != nil {
		return nil, err
	}
	s.outPol, s.inPol = list, list
	maxID := uint32(0)
	for _, p := range list {
		maxID = max(maxID, p.ID)
	}
	if int(maxID) < 2*len(list)+1024 {
		s.dense = make([]*Policy, maxID+1)
		for _, p := range list {
			s.dense[p.ID] = p
		}
	}
	return s, nil
}

// Lookup returns the highest-priority policy that matches packet p in
// direction d, or nil. It allocates nothing.
func (db *DB) Lookup(d Direction, p *classify.Packet) *Policy {
	s := db.snap.Load()
	if d == Inbound {
		if i, ok := s.in.Lookup(p); ok {
			return s.inPol[i]
		}
		return nil
	}
	if i, ok := s.out.Lookup(p); ok {
		return s.outPol[i]
	}
	return nil
}

// Get returns the policy with the given ID, or nil.
func (db *DB) Get(id uint32) *Policy {
	s := db.snap.Load()
	if s.dense != nil {
		if int(id) < len(s.dense) {
			return s.dense[id]
		}
		return nil
	}
	return s.byID[id]
}

// ByName returns the policy with the given name, or nil.
func (db *DB) ByName(name string) *Policy { return db.snap.Load().byName[name] }

// List returns the policies by priority, then ID.
func (db *DB) List() []*Policy { return slices.Clone(db.snap.Load().list) }

// Len returns the number of policies.
func (db *DB) Len() int { return len(db.snap.Load().list) }

// Add validates p, completes its defaults, assigns its ID if zero and adds
// it: the reference's IPSecMgmtAddPolicy.
func (db *DB) Add(p Policy) (uint32, error) {
	ids, err := db.AddBatch([]Policy{p})
	if err != nil {
		return 0, err
	}
	return ids[0], nil
}

// AddBatch adds several policies with one rebuild of the trees. Either all
// are added or none.
func (db *DB) AddBatch(ps []Policy) ([]uint32, error) {
	db.mu.Lock()
	old := db.snap.Load()
	list := slices.Clone(old.list)
	byID := make(map[uint32]bool, len(ps))
	byName := make(map[string]bool)
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
			for old.byID[nextID] != nil || byID[nextID] || nextID == 0 {
				nextID++
			}
			p.ID = nextID
			nextID++
		} else if old.byID[p.ID] != nil || byID[p.ID] {
			db.mu.Unlock()
			return nil, xe.Errorf(xe.Exist, "spd: policy ID %d is in use", p.ID)
		} else if p.ID >= nextID {
			// Assigned IDs stay above every ID in use, so that among
			// equal priorities the policy added first wins.
			nextID = p.ID + 1
		}
		if p.Name != "" && (old.byName[p.Name] != nil || byName[p.Name]) {
			db.mu.Unlock()
			return nil, xe.Errorf(xe.Exist, "spd: a policy named %q exists", p.Name)
		}
		byID[p.ID] = true
		if p.Name != "" {
			byName[p.Name] = true
		}
		added = append(added, &p)
		ids = append(ids, p.ID)
	}
	if err := checkDuplicates(old.list, added); err != nil {
		db.mu.Unlock()
		return nil, err
	}
	list = append(list, added...)
	sortPolicies(list)
	s, err := build(list)
	if err != nil {
		db.mu.Unlock()
		return nil, err
	}
	if nextID > db.nextID {
		db.nextID = nextID
	}
	db.publish(s, added, nil)
	return ids, nil
}

// checkDuplicates refuses a policy that selects the same traffic at the
// same priority as another (XE_EXIST): one of them could never match.
func checkDuplicates(existing, added []*Policy) error {
	type trafficKey struct {
		prio, proto uint8
		src, dst    classify.Selector
	}
	seen := make(map[trafficKey]uint32, len(existing)+len(added))
	for _, p := range slices.Concat(existing, added) {
		k := trafficKey{p.Priority, p.Proto, p.Src, p.Dst}
		if id, dup := seen[k]; dup {
			return xe.Errorf(xe.Exist, "spd: policy %d selects the same traffic as policy %d (%v -> %v proto %d, priority %d)", p.ID, id, p.Src, p.Dst, p.Proto, p.Priority)
		}
		seen[k] = p.ID
	}
	return nil
}

func sortPolicies(list []*Policy) {
	slices.SortFunc(list, func(a, b *Policy) int {
		return cmp.Or(cmp.Compare(a.Priority, b.Priority), cmp.Compare(a.ID, b.ID))
	})
}

// Delete removes the policy with the given ID.
func (db *DB) Delete(id uint32) error {
	return db.deleteWhere(func(p *Policy) bool { return p.ID == id }, func() error {
		return xe.Errorf(xe.PolicyNotFound, "spd: no policy %d", id)
	})
}

// DeleteByName removes the policy with the given name.
func (db *DB) DeleteByName(name string) error {
	return db.deleteWhere(func(p *Policy) bool { return p.Name == name }, func() error {
		return xe.Errorf(xe.PolicyNotFound, "spd: no policy named %q", name)
	})
}

// Flush removes every policy and returns how many there were.
func (db *DB) Flush() int {
	n := 0
	db.deleteWhere(func(*Policy) bool { n++; return true }, func() error { return nil })
	return n
}

func (db *DB) deleteWhere(match func(*Policy) bool, notFound func() error) error {
	db.mu.Lock()
	old := db.snap.Load()
	var keep, deleted []*Policy
	for _, p := range old.list {
		if match(p) {
			deleted = append(deleted, p)
		} else {
			keep = append(keep, p)
		}
	}
	if len(deleted) == 0 {
		db.mu.Unlock()
		return notFound()
	}
	s, err := build(keep)
	if err != nil {
		db.mu.Unlock()
		return err
	}
	db.publish(s, nil, deleted)
	return nil
}

// publish makes s the current snapshot, releases the write lock taken by
// the caller and tells OnChange.
func (db *DB) publish(s *snapshot, added, deleted []*Policy) {
	db.snap.Store(s)
	db.notifyMu.Lock()
	db.mu.Unlock()
	defer db.notifyMu.Unlock()
	if db.OnChange != nil {
		db.OnChange(added, deleted)
	}
}
