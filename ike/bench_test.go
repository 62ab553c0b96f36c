package ike

import (
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/sabre-ipsec/sabre/classify"
	"github.com/sabre-ipsec/sabre/spd"
)

// BenchmarkIKEHandshake measures one IKE_SA_INIT + IKE_AUTH exchange with
// one Child SA between an in-process initiator and responder (no
// sockets), both run on the benchmark's goroutine, so ns/op is the CPU
// time of both sides together: key exchange, AUTH, proposal and traffic
// selector processing, SPI allocation and SA installation. The SAs are
// removed between iterations with the timer stopped.
func BenchmarkIKEHandshake(b *testing.B) {
	for _, tc := range []struct{ name, suite, esp string }{
		{"psk-x25519-aesgcm", "-e AES128-GCM16 -p PRFSHA256 -d CURVE25519", "AES128-GCM16"},
		{"psk-modp2048-aescbc", "-e AES128-CBC -a HMAC-SHA-2-256 -p HMAC-SHA-2-256 -d MODP2048", "AES128-CBC"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			esp := []string{tc.esp}
			var integ []string
			if tc.esp == "AES128-CBC" {
				integ = []string{"HMAC-SHA-2-256"}
			}
			n, a, bb := pair(b, tc.suite, tc.suite, nil)
			for _, h := range []*testHost{a, bb} {
				p := *h.e.SPD().Get(h.policy)
				p.ESPAlgorithms, p.AHAlgorithms = esp, integ
				h.e.SPD().Delete(p.ID)
				p.ID = 0
				id, err := h.e.SPD().Add(p)
				if err != nil {
					b.Fatal(err)
				}
				h.policy = id
			}
			p := a.e.SPD().Get(a.policy)
			r := a.d.remote("b")
			n.queued = true
			b.ReportAllocs()
			for b.Loop() {
				if err := a.d.initiate(r, p); err != nil {
					b.Fatal(err)
				}
				n.drain()
				b.StopTimer()
				if len(a.e.SAD().All()) != 2 || len(bb.e.SAD().All()) != 2 {
					b.Fatalf("handshake incomplete: %+v %+v", a.d.Status(), bb.d.Status())
				}
				for _, h := range []*testHost{a, bb} {
					for _, k := range h.d.mgr.All() {
						if sa, err := h.d.mgr.Checkout(k, netip.AddrPort{}); err == nil {
							h.d.remove(sa, "benchmark")
						}
					}
					h.e.SAD().Flush()
				}
				b.StartTimer()
			}
		})
	}
}

// BenchmarkIKESAMemory establishes N IKE SAs, each with one Child SA, from
// one initiator daemon to one responder and reports the heap they hold per
// IKE SA per side (the b.N loop only repeats the measurement).
func BenchmarkIKESAMemory(b *testing.B) {
	const N = 200
	for b.Loop() {
		b.StopTimer()
		n := &network{hosts: map[netip.Addr]*testHost{}}
		psk := writePSK(b, "memory")
		suite := "-e AES128-GCM16 -p PRFSHA256 -d CURVE25519"
		a := newHost(b, n, "a", "192.0.2.1", "10.1.0.0/24", "10.2.0.0/24", "192.0.2.2",
			"-n r0 -w "+suite+" -m PSK -h "+psk+" -r 192.0.2.2 -g fqdn:i0", []string{"AES128-GCM16"})
		bb := newHost(b, n, "b", "192.0.2.2", "10.2.0.0/24", "10.1.0.0/24", "192.0.2.1",
			"-n a -u "+suite+" -m PSK -h "+psk, []string{"AES128-GCM16"})
		var policies []*spd.Policy
		for i := 1; i <= N; i++ {
			r, _ := ParseRemote(strings.Fields(fmt.Sprintf("-n r%d -w %s -m PSK -h %s -r 192.0.2.2 -g fqdn:i%d", i, suite, psk, i)))
			a.d.AddRemote(r)
			src, dst := fmt.Sprintf("10.%d.%d.0/24", 100+i/250, i%250), fmt.Sprintf("10.%d.%d.0/24", 200+i/250, i%250)
			id, err := a.e.SPD().Add(spd.Policy{Action: spd.Secure, Mode: spd.Tunnel, Src: classify.MustParseSelector(src), Dst: classify.MustParseSelector(dst),
				TunnelLocal: a.addr, TunnelRemote: bb.addr, RemoteName: r.Name, ESPAlgorithms: []string{"AES128-GCM16"}})
			if err != nil {
				b.Fatal(err)
			}
			policies = append(policies, a.e.SPD().Get(id))
			if _, err := bb.e.SPD().Add(spd.Policy{Action: spd.Secure, Mode: spd.Tunnel, Src: classify.MustParseSelector(dst), Dst: classify.MustParseSelector(src),
				TunnelLocal: bb.addr, TunnelRemote: a.addr, RemoteName: "a", ESPAlgorithms: []string{"AES128-GCM16"}}); err != nil {
				b.Fatal(err)
			}
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for _, p := range policies {
			if err := a.d.initiate(a.d.remote(p.RemoteName), p); err != nil {
				b.Fatal(err)
			}
		}
		deadline := time.Now().Add(60 * time.Second)
		for len(bb.e.SAD().All()) < 2*N || len(a.e.SAD().All()) < 2*N {
			if time.Now().After(deadline) {
				b.Fatalf("%d/%d SAs after 60s", len(a.e.SAD().All())/2, N)
			}
			time.Sleep(10 * time.Millisecond)
		}
		n.wg.Wait()
		// Let the INITIAL_CONTACT sweeps (goroutines of their own) finish:
		// their garbage is not what an IKE SA holds.
		time.Sleep(200 * time.Millisecond)
		runtime.GC()
		runtime.ReadMemStats(&after)
		if f := os.Getenv("SABRE_HEAP_PROFILE"); f != "" {
			if w, err := os.Create(f); err == nil {
				pprof.WriteHeapProfile(w)
				w.Close()
			}
		}
		perSide := float64(after.HeapAlloc-before.HeapAlloc) / N / 2
		b.ReportMetric(perSide, "B/ikesa")
		a.d.Close()
		bb.d.Close()
		b.StartTimer()
	}
}
