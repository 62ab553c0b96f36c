package pubmap

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
)

type entry struct{ key uint32 }

func hashOf(e *entry) uint64 { return uint64(e.key) }

func find(m *Map[entry], key uint32) *entry {
	p := m.Probe(uint64(key))
	for e := p.Next(); e != nil; e = p.Next() {
		if e.key == key {
			return e
		}
	}
	return nil
}

// TestMapMatchesGoMap applies random inserts, replacements and deletes,
// with keys from a small range so that probe sequences collide and
// tombstones pile up, and compares every key with a Go map after each.
func TestMapMatchesGoMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	m := New(hashOf)
	want := map[uint32]*entry{}
	for op := range 20000 {
		k := uint32(rng.IntN(300))
		if op > 15000 {
			k = uint32(rng.IntN(30)) // shrink
		}
		old := want[k]
		switch {
		case old == nil:
			e := &entry{k}
			m.Insert(uint64(k), e)
			want[k] = e
		case rng.IntN(3) == 0:
			e := &entry{k}
			if !m.Replace(uint64(k), old, e) {
				t.Fatalf("op %d: Replace of key %d did not find it", op, k)
			}
			want[k] = e
		default:
			if !m.Delete(uint64(k), old) {
				t.Fatalf("op %d: Delete of key %d did not find it", op, k)
			}
			delete(want, k)
		}
		if m.Len() != len(want) {
			t.Fatalf("op %d: Len %d, want %d", op, m.Len(), len(want))
		}
		if op%97 == 0 || op > 19900 {
			for k := range uint32(300) {
				if got := find(m, k); got != want[k] {
					t.Fatalf("op %d: key %d: got %v, want %v", op, k, got, want[k])
				}
			}
		}
	}
	n := 0
	m.All(func(e *entry) {
		if want[e.key] != e {
			t.Errorf("All returned %v, not in the map", e)
		}
		n++
	})
	if n != len(want) {
		t.Errorf("All returned %d entries, want %d", n, len(want))
	}
	if m.Delete(uint64(1000), &entry{1000}) || m.Replace(1000, &entry{1000}, &entry{1000}) {
		t.Error("Delete or Replace of an absent entry succeeded")
	}
	m.Clear()
	if m.Len() != 0 || find(m, 1) != nil {
		t.Error("Clear left entries")
	}
}

// TestMapConcurrentReaders probes keys that are always present while a
// writer inserts, deletes and resizes around them; run it with -race.
func TestMapConcurrentReaders(t *testing.T) {
	m := New(hashOf)
	stable := make([]*entry, 64)
	for i := range stable {
		stable[i] = &entry{uint32(i)}
		m.Insert(uint64(i), stable[i])
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				for _, e := range stable {
					if find(m, e.key) != e {
						t.Errorf("key %d not found during writes", e.key)
						return
					}
				}
			}
		}()
	}
	var churn []*entry
	for i := range 20000 {
		e := &entry{uint32(1000 + i)}
		m.Insert(uint64(e.key), e)
		churn = append(churn, e)
		if len(churn) > 500 || i%1000 > 900 {
			m.Delete(uint64(churn[0].key), churn[0])
			churn = churn[1:]
		}
	}
	stop.Store(true)
	wg.Wait()
}

func BenchmarkProbe(b *testing.B) {
	for _, n := range []int{1000, 100_000} {
		m := New(hashOf)
		for i := range n {
			m.Insert(uint64(i*7919), &entry{uint32(i * 7919)})
		}
		b.Run(map[int]string{1000: "n-1000", 100_000: "n-100000"}[n], func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if find(m, uint32((i%n)*7919)) == nil {
					b.Fatal("not found")
				}
				i++
			}
		})
	}
}
