package gvisor

import (
	"context"
	"io"
	"syscall"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"

	"github.com/sabre-ipsec/sabre/spd"
)

// BenchmarkGVisorTCP measures a bulk TCP transfer between two gVisor
// stacks on an in-memory 1500-byte link, without Sabre (plain, the
// baseline) and through ESP tunnel mode with AES-128-GCM.
//
// plain and esp-aes128gcm model a deployment as runsc sets one up: each
// NIC writes through gVisor's FIFO queueing discipline, and each host
// receives on its own goroutine, as from a NIC's receive loop (two channel
// endpoints with a goroutine per direction). The pipe- variants join the
// stacks with gVisor's pipe and no queueing discipline: a host's write
// runs the peer's whole receive path on the writer's goroutine, and
// encryption runs under the TCP endpoint's lock, which the peer's ACKs
// wait for. The throughput ratios to the baselines are logged (-v).
func BenchmarkGVisorTCP(b *testing.B) {
	configs := []struct {
		name string
		c    netConfig
	}{
		{"plain", netConfig{async: true, qdisc: true}},
		{"esp-aes128gcm", netConfig{mode: spd.Tunnel, async: true, qdisc: true}},
		{"pipe-plain", netConfig{}},
		{"pipe-esp-aes128gcm", netConfig{mode: spd.Tunnel}},
	}
	mbps := make([]float64, len(configs))
	for i, c := range configs {
		b.Run(c.name, func(b *testing.B) {
			mbps[i] = benchTCP(b, c.c)
		})
	}
	for i := 0; i+1 < len(configs); i += 2 {
		if mbps[i] > 0 {
			b.Logf("%s / %s throughput = %.2f", configs[i+1].name, configs[i].name, mbps[i+1]/mbps[i])
		}
	}
}

// benchTCP sends b.N chunks from host A to a reader on host B and returns
// the throughput in MB/s.
func benchTCP(b *testing.B, c netConfig) float64 {
	const chunk = 64 << 10
	n := newNet(b, c)
	addr := tcpip.FullAddress{NIC: nicID, Addr: gaddr(n.b.addr4), Port: 9}
	l, err := gonet.ListenTCP(n.b.s, addr, netProto(n.b.addr4))
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	received := make(chan int64, 1)
	go func() {
		conn, err := l.Accept()
		if err != nil {
			received <- -1
			return
		}
		defer conn.Close()
		k, _ := io.Copy(io.Discard, conn)
		received <- k
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := gonet.DialContextTCP(ctx, n.a.s, addr, netProto(n.b.addr4))
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, chunk)
	b.SetBytes(chunk)
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	for range b.N {
		if _, err := conn.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	conn.Close()
	got := <-received
	elapsed, cpu := time.Since(start), cpuTime()-cpu0
	b.StopTimer()
	// CPU time per byte, the process's, is steadier than throughput on a
	// shared machine.
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(got), "cpu-ns/B")
	if want := int64(b.N) * chunk; got != want {
		b.Fatalf("received %d bytes, sent %d", got, want)
	}
	return float64(got) / elapsed.Seconds() / 1e6
}

// cpuTime returns the CPU time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
