package gvisor

import (
	"context"
	"io"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"

	"github.com/sabre-ipsec/sabre/spd"
)

// BenchmarkGVisorTCP measures a bulk TCP transfer between two gVisor
// stacks on an in-memory 1500-byte link, without Sabre (plain, the
// baseline) and through ESP tunnel mode with AES-128-GCM. The ratio of the
// two throughputs is logged at the end.
func BenchmarkGVisorTCP(b *testing.B) {
	var mbps [4]float64
	for i, c := range []struct {
		name  string
		mode  spd.Mode
		async bool
	}{{"plain", 0, false}, {"esp-aes128gcm", spd.Tunnel, false}, {"async-plain", 0, true}, {"async-esp-aes128gcm", spd.Tunnel, true}} {
		b.Run(c.name, func(b *testing.B) {
			mbps[i] = benchTCP(b, netConfig{mode: c.mode, async: c.async})
		})
	}
	if mbps[0] > 0 && mbps[1] > 0 {
		b.Logf("esp-aes128gcm / plain throughput = %.2f (%.0f / %.0f MB/s)", mbps[1]/mbps[0], mbps[1], mbps[0])
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
	start := time.Now()
	for range b.N {
		if _, err := conn.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	conn.Close()
	got := <-received
	elapsed := time.Since(start)
	b.StopTimer()
	if want := int64(b.N) * chunk; got != want {
		b.Fatalf("received %d bytes, sent %d", got, want)
	}
	return float64(got) / elapsed.Seconds() / 1e6
}
