package demo

// The demo's traffic through the SAs: a TCP echo (whose first packet
// triggers the negotiation), a ping and a TCP throughput test, all on the
// gVisor stacks' own endpoints.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	gheader "gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// Ports of B's TCP servers.
const (
	demoEchoPort    = 7
	demoDiscardPort = 9
)

// demoEchoMessage is what A sends through the echo; the tshark test looks
// for it in the decrypted capture.
const demoEchoMessage = "hello from A, through ESP, back from B"

type demoTraffic struct {
	cfg  *demoConfig
	a, b *demoHost
	w    io.Writer

	echoDone   chan error
	echoReport string
}

func (t *demoTraffic) target(port uint16) tcpip.FullAddress {
	return tcpip.FullAddress{NIC: demoNIC, Addr: demoAddr(t.b.addr), Port: port}
}

// startEcho starts B's echo server and A's connection to it, whose SYN
// finds no SA (ACQUIRE); finishEcho waits for the echo.
func (t *demoTraffic) startEcho() error {
	l, err := gonet.ListenTCP(t.b.s, t.target(demoEchoPort), demoNetProto(t.b.addr))
	if err != nil {
		return fmt.Errorf("B listens on TCP %d: %w", demoEchoPort, err)
	}
	go func() {
		defer l.Close()
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(demoNegotiationTimeout + demoStepTimeout))
		io.Copy(c, c)
	}()
	t.echoDone = make(chan error, 1)
	go func() { t.echoDone <- t.echo() }()
	return nil
}

func (t *demoTraffic) echo() error {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), demoNegotiationTimeout+demoStepTimeout)
	defer cancel()
	c, err := gonet.DialContextTCP(ctx, t.a.s, t.target(demoEchoPort), demoNetProto(t.b.addr))
	if err != nil {
		return fmt.Errorf("A connects to %v port %d: %w", t.b.addr, demoEchoPort, err)
	}
	defer c.Close()
	connected := time.Since(start)
	c.SetDeadline(time.Now().Add(demoStepTimeout))
	sent := time.Now()
	if _, err := io.WriteString(c, demoEchoMessage); err != nil {
		return fmt.Errorf("A sends: %w", err)
	}
	got := make([]byte, len(demoEchoMessage))
	if _, err := io.ReadFull(c, got); err != nil {
		return fmt.Errorf("A reads the echo: %w", err)
	}
	rtt := time.Since(sent)
	if !bytes.Equal(got, []byte(demoEchoMessage)) {
		return fmt.Errorf("the echo differs: sent %q, got %q", demoEchoMessage, got)
	}
	t.echoReport = fmt.Sprintf("TCP echo: A %v -> B %v connected in %v (the negotiation included); %q (%d bytes) came back intact in %v\n",
		c.LocalAddr(), c.RemoteAddr(), roundDur(connected), demoEchoMessage, len(got), roundDur(rtt))
	return nil
}

func (t *demoTraffic) finishEcho() error {
	select {
	case err := <-t.echoDone:
		return err
	case <-time.After(demoNegotiationTimeout + demoStepTimeout):
		return fmt.Errorf("no echo: %w", errDemoTimeout)
	}
}

// ping sends n ICMP (ICMPv6) echo requests from A to B through the SAs,
// with gVisor's ICMP endpoint, and waits for each reply.
func (t *demoTraffic) ping(n int) error {
	proto, typ, reply := icmp.ProtocolNumber4, byte(gheader.ICMPv4Echo), byte(gheader.ICMPv4EchoReply)
	if t.b.addr.Is6() {
		proto, typ, reply = icmp.ProtocolNumber6, byte(gheader.ICMPv6EchoRequest), byte(gheader.ICMPv6EchoReply)
	}
	var wq waiter.Queue
	ep, terr := t.a.s.NewEndpoint(proto, demoNetProto(t.b.addr), &wq)
	if terr != nil {
		return fmt.Errorf("ICMP endpoint: %v", terr)
	}
	defer ep.Close()
	we, ch := waiter.NewChannelEntry(waiter.ReadableEvents)
	wq.EventRegister(&we)
	defer wq.EventUnregister(&we)
	var rtts []time.Duration
	for seq := 1; seq <= n; seq++ {
		msg := make([]byte, 8+56) // header (type, code, checksum, id, seq) and 56 bytes, as ping sends
		msg[0] = typ
		msg[7] = byte(seq)
		for i := 8; i < len(msg); i++ {
			msg[i] = byte(i)
		}
		sent := time.Now()
		var r bytes.Reader
		r.Reset(msg)
		if _, err := ep.Write(&r, tcpip.WriteOptions{To: &tcpip.FullAddress{NIC: demoNIC, Addr: demoAddr(t.b.addr)}}); err != nil {
			return fmt.Errorf("echo request %d: %v", seq, err)
		}
		timeout := time.After(demoStepTimeout)
		for {
			var buf bytes.Buffer
			_, err := ep.Read(&buf, tcpip.ReadOptions{})
			if _, ok := err.(*tcpip.ErrWouldBlock); ok {
				select {
				case <-ch:
				case <-timeout:
					return fmt.Errorf("no reply to echo request %d in %v", seq, demoStepTimeout)
				}
				continue
			}
			if err != nil {
				return fmt.Errorf("reading echo reply %d: %v", seq, err)
			}
			got := buf.Bytes()
			if len(got) != len(msg) || got[0] != reply || got[7] != byte(seq) || !bytes.Equal(got[8:], msg[8:]) {
				continue // not ours
			}
			rtts = append(rtts, time.Since(sent))
			break
		}
	}
	lo, hi, sum := rtts[0], rtts[0], time.Duration(0)
	for _, d := range rtts {
		lo, hi, sum = min(lo, d), max(hi, d), sum+d
	}
	kind := "ICMP"
	if t.b.addr.Is6() {
		kind = "ICMPv6"
	}
	fmt.Fprintf(t.w, "ping: A -> %v, %d %s echo requests of 56 bytes, %d replies, rtt min/avg/max %.3f/%.3f/%.3f ms\n",
		t.b.addr, n, kind, len(rtts), ms(lo), ms(sum/time.Duration(len(rtts))), ms(hi))
	return nil
}

// throughput sends from A to B's discard server for d over one TCP
// connection and reports what B received.
func (t *demoTraffic) throughput(d time.Duration) error {
	l, err := gonet.ListenTCP(t.b.s, t.target(demoDiscardPort), demoNetProto(t.b.addr))
	if err != nil {
		return fmt.Errorf("B listens on TCP %d: %w", demoDiscardPort, err)
	}
	defer l.Close()
	type result struct {
		n   int64
		end time.Time
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(d + demoStepTimeout))
		n, err := io.Copy(io.Discard, c)
		done <- result{n, time.Now(), err}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), demoStepTimeout)
	defer cancel()
	c, err := gonet.DialContextTCP(ctx, t.a.s, t.target(demoDiscardPort), demoNetProto(t.b.addr))
	if err != nil {
		return fmt.Errorf("A connects to port %d: %w", demoDiscardPort, err)
	}
	chunk := make([]byte, 64<<10)
	for i := range chunk {
		chunk[i] = byte(i * 7)
	}
	c.SetWriteDeadline(time.Now().Add(d + demoStepTimeout))
	start := time.Now()
	var sent int64
	for time.Since(start) < d {
		k, err := c.Write(chunk)
		sent += int64(k)
		if err != nil {
			c.Close()
			return fmt.Errorf("A sends after %d bytes: %w", sent, err)
		}
	}
	c.Close()
	var r result
	select {
	case r = <-done:
	case <-time.After(d + demoStepTimeout):
		return fmt.Errorf("B did not see the end of the stream: %w", errDemoTimeout)
	}
	if r.err != nil {
		return fmt.Errorf("B receives: %w", r.err)
	}
	if r.n != sent {
		return fmt.Errorf("A sent %d bytes, B received %d", sent, r.n)
	}
	el := r.end.Sub(start)
	fmt.Fprintf(t.w, "TCP throughput A -> B through ESP: %.0f Mbit/s (%.1f MB in %v, one connection, both stacks and both engines on this machine)\n",
		float64(r.n)*8/el.Seconds()/1e6, float64(r.n)/1e6, roundDur(el))
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func roundDur(d time.Duration) time.Duration {
	switch {
	case d > time.Second:
		return d.Round(10 * time.Millisecond)
	case d > time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}
