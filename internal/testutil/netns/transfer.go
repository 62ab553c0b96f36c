//go:build linux

package netns

import (
	"crypto/rand"
	"crypto/sha256"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"
)

// Transfer sends size random bytes over TCP from src (in namespace from)
// to dst (in namespace to) and checks that exactly those bytes arrived
// within the time given; it logs the throughput.
func Transfer(t testing.TB, from *NS, src netip.Addr, to *NS, dst netip.Addr, size int, within time.Duration) {
	t.Helper()
	data := make([]byte, size)
	rand.Read(data)
	var ln net.Listener
	if err := to.Do(func() (err error) { ln, err = net.Listen("tcp4", netip.AddrPortFrom(dst, 0).String()); return }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		n   int64
		sum [32]byte
		err error
	}
	got := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- result{err: err}
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(within))
		h := sha256.New()
		n, err := io.Copy(h, c)
		got <- result{n, [32]byte(h.Sum(nil)), err}
	}()
	var c net.Conn
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: src.AsSlice()}, Timeout: 10 * time.Second}
	if err := from.Do(func() (err error) { c, err = d.Dial("tcp4", ln.Addr().String()); return }); err != nil {
		t.Fatalf("TCP connect %v -> %v: %v", src, ln.Addr(), err)
	}
	start := time.Now()
	c.SetDeadline(time.Now().Add(within))
	if _, err := c.Write(data); err != nil {
		c.Close()
		t.Fatalf("TCP send %v -> %v: %v", src, dst, err)
	}
	c.Close()
	var r result
	select {
	case r = <-got:
	case <-time.After(within):
		t.Fatalf("TCP transfer %v -> %v did not finish in %v", src, dst, within)
	}
	el := time.Since(start)
	if r.err != nil {
		t.Fatalf("TCP receive %v -> %v: %v after %d bytes", src, dst, r.err, r.n)
	}
	if r.n != int64(size) || r.sum != sha256.Sum256(data) {
		t.Fatalf("TCP transfer %v -> %v: received %d bytes (want %d), checksum match %v", src, dst, r.n, size, r.sum == sha256.Sum256(data))
	}
	t.Logf("TCP %v -> %v: %d MiB in %v, %.0f Mbit/s, sha256 ok", src, dst, size>>20, el.Round(time.Millisecond),
		float64(size)*8/el.Seconds()/1e6)
}
