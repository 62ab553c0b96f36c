package pktbuf

import (
	"bytes"
	"testing"
)

func TestPrependAppendInPlace(t *testing.T) {
	b := New(16, 4, 8)
	copy(b.Bytes(), "data")
	storage := &b.Storage()[0]
	copy(b.Prepend(4), "hdr:")
	copy(b.Append(4), ":trl")
	if got := string(b.Bytes()); got != "hdr:data:trl" {
		t.Fatalf("packet = %q", got)
	}
	if &b.Storage()[0] != storage {
		t.Fatal("buffer moved although head- and tailroom sufficed")
	}
	if b.Headroom() != 12 || b.Tailroom() != 4 {
		t.Fatalf("headroom %d tailroom %d, want 12 4", b.Headroom(), b.Tailroom())
	}
	b.TrimFront(4)
	b.TrimBack(4)
	if got := string(b.Bytes()); got != "data" {
		t.Fatalf("after trim = %q", got)
	}
}

func TestGrowKeepsData(t *testing.T) {
	b := New(2, 3, 1)
	copy(b.Bytes(), "abc")
	copy(b.Prepend(5), "01234")
	copy(b.Append(6), "uvwxyz")
	if got := string(b.Bytes()); got != "01234abcuvwxyz" {
		t.Fatalf("packet = %q", got)
	}
}

func TestMoveFront(t *testing.T) {
	b := New(8, 10, 0)
	copy(b.Bytes(), "IPHpayload")
	b.MoveFront(3, -4) // open a 4-byte gap after the 3-byte "header"
	copy(b.Bytes()[3:7], "ESP!")
	if got := string(b.Bytes()); got != "IPHESP!payload" {
		t.Fatalf("packet = %q", got)
	}
	b.MoveFront(3, 4) // close it again
	if got := string(b.Bytes()); got != "IPHpayload" {
		t.Fatalf("packet = %q", got)
	}
}

func TestPoolReuse(t *testing.T) {
	pl := NewPool(32, 100, 16)
	b := pl.Get()
	copy(b.Append(5), "hello")
	pl.Put(b)
	b2 := pl.Get()
	if b2.Len() != 0 || b2.Headroom() != 32 {
		t.Fatalf("pooled buffer len %d headroom %d", b2.Len(), b2.Headroom())
	}
	if got := b2.Append(5); !bytes.Equal(got, []byte("hello")) && len(got) != 5 {
		t.Fatalf("append after reuse = %q", got)
	}
}

func TestPoolAllocationFree(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	pl := NewPool(32, 1500, 64)
	pl.Put(pl.Get())
	allocs := testing.AllocsPerRun(100, func() {
		b := pl.Get()
		b.Append(100)
		b.Prepend(20)
		pl.Put(b)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per Get/Put", allocs)
	}
}
