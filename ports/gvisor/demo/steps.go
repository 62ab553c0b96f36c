package demo

// The negotiation as the demo prints it, one line per step, gathered from
// three places: the messaging interface (ACQUIRE), the link (IKE messages
// and each SA's first ESP packet) and the IKE daemons' log records (SAs
// established, NAT detected, and anything that went wrong).

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sabre-ipsec/sabre/header"
	"github.com/sabre-ipsec/sabre/ike"
	"github.com/sabre-ipsec/sabre/ike/message"
	"github.com/sabre-ipsec/sabre/ipsec/messaging"
	"github.com/sabre-ipsec/sabre/spd"
)

// step is one line of the negotiation.
type step struct {
	t       time.Time
	who     string // "A", "B", "A -> B"
	text    string
	acquire *demoHost // an ACQUIRE of this host (ordered before its first IKE message)
}

// stepLog gathers the steps while recording.
type stepLog struct {
	a, b    *demoHost
	mode    spd.Mode
	verbose bool
	rec     atomic.Bool

	mu       sync.Mutex
	t0       time.Time
	steps    []step
	firstIKE map[*demoHost]time.Time // each host's first IKE message since t0
	espSeen  map[uint32]bool
	espCh    chan struct{} // a first ESP packet or an ACQUIRE was recorded
	fail     error
}

func newStepLog(a, b *demoHost, mode spd.Mode, verbose bool) *stepLog {
	return &stepLog{a: a, b: b, mode: mode, verbose: verbose,
		firstIKE: map[*demoHost]time.Time{}, espSeen: map[uint32]bool{}, espCh: make(chan struct{}, 16)}
}

func (l *stepLog) startRecording() {
	l.mu.Lock()
	l.t0 = time.Now()
	l.mu.Unlock()
	l.rec.Store(true)
}

func (l *stepLog) stopRecording()  { l.rec.Store(false) }
func (l *stepLog) recording() bool { return l.rec.Load() }

func (l *stepLog) add(s step) {
	l.mu.Lock()
	l.steps = append(l.steps, s)
	l.mu.Unlock()
}

// failure returns the first failure the IKE daemons logged.
func (l *stepLog) failure() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fail
}

// waitFirstESP waits until n SAs have shown their first ESP packet.
func (l *stepLog) waitFirstESP(n int, timeout time.Duration) {
	deadline := time.After(timeout)
	for {
		l.mu.Lock()
		seen := len(l.espSeen)
		l.mu.Unlock()
		if seen >= n {
			return
		}
		select {
		case <-l.espCh:
		case <-deadline:
			return
		}
	}
}

// waitAcquire waits until host h's ACQUIRE is recorded. It reaches the
// demo's application on a goroutine of its own, which the scheduler may
// run only after the negotiation the ACQUIRE started is over, the IKE
// daemon's workers having had the CPUs.
func (l *stepLog) waitAcquire(h *demoHost, timeout time.Duration) {
	deadline := time.After(timeout)
	for {
		l.mu.Lock()
		seen := slices.ContainsFunc(l.steps, func(s step) bool { return s.acquire == h })
		l.mu.Unlock()
		if seen {
			return
		}
		select {
		case <-l.espCh:
		case <-deadline:
			return
		}
	}
}

// print writes the steps in order of time, relative to the start.
func (l *stepLog) print(w io.Writer) {
	l.mu.Lock()
	steps := slices.Clone(l.steps)
	t0, first := l.t0, l.firstIKE
	l.mu.Unlock()
	// An ACQUIRE reaches the demo's application on the messaging
	// interface as it reaches the IKE daemon's, each on a goroutine of
	// its own; it happened before the host's first IKE message.
	for i, s := range steps {
		if f, ok := first[s.acquire]; ok && s.acquire != nil && !s.t.Before(f) {
			steps[i].t = f.Add(-time.Nanosecond)
		}
	}
	slices.SortStableFunc(steps, func(x, y step) int { return x.t.Compare(y.t) })
	for _, s := range steps {
		ms := float64(s.t.Sub(t0).Microseconds()) / 1000
		fmt.Fprintf(w, "  %7.1f ms  %-6s  %s\n", max(ms, 0), s.who, s.text)
	}
}

// event takes host h's messaging events: ACQUIRE.
func (l *stepLog) event(h *demoHost, ev messaging.Event) {
	if ev.Type != messaging.MsgAcquire || !l.recording() {
		return
	}
	k := ev.Key
	name := ""
	if ev.Policy != nil {
		name = ev.Policy.Name
	}
	l.add(step{t: time.Now(), who: h.name, acquire: h, text: fmt.Sprintf(
		"ACQUIRE: %s %s -> %s matches policy %q, which has no SA yet; the packet is held while IKE negotiates",
		protoName(k.Proto), hostPort(k.Src, k.SrcPort, k.Proto), hostPort(k.Dst, k.DstPort, k.Proto), name)})
	select {
	case l.espCh <- struct{}{}: // waitAcquire
	default:
	}
}

func protoName(p uint8) string {
	switch p {
	case header.ProtoTCP:
		return "TCP"
	case header.ProtoUDP:
		return "UDP"
	case header.ProtoICMP:
		return "ICMP"
	case header.ProtoICMPv6:
		return "ICMPv6"
	}
	return fmt.Sprintf("protocol %d", p)
}

func hostPort(a netip.Addr, port uint16, proto uint8) string {
	if proto == header.ProtoTCP || proto == header.ProtoUDP {
		return netip.AddrPortFrom(a, port).String()
	}
	return a.String()
}

// transport finds the transport header of the IP packet p: its protocol
// and offset.
func transport(p []byte) (proto uint8, off int, ok bool) {
	switch {
	case len(p) >= header.IPv4MinLen && p[0]>>4 == 4:
		h := header.IPv4(p)
		if h.IsFragment() && h.FragmentOffset() != 0 {
			return 0, 0, false
		}
		return h.Protocol(), h.HeaderLength(), true
	case len(p) >= header.IPv6Len && p[0]>>4 == 6:
		c, ok := header.ParseIPv6Chain(p)
		if !ok {
			return 0, 0, false
		}
		return c.Proto, c.ProtoOffset, true
	}
	return 0, 0, false
}

// wire takes a packet that crossed the link from one host to the other:
// IKE messages and the first ESP packet of each SA become steps.
func (l *stepLog) wire(from, to *demoHost, p []byte) {
	if !l.recording() {
		return
	}
	proto, off, ok := transport(p)
	if !ok {
		return
	}
	who := from.name + " -> " + to.name
	now := time.Now()
	switch proto {
	case header.ProtoESP:
		l.firstESP(now, who, p[off:], len(p), "")
	case header.ProtoUDP:
		if len(p) < off+header.UDPLen {
			return
		}
		u := header.UDP(p[off:])
		payload := p[off+header.UDPLen:]
		port := u.DstPort()
		if port != ike.IKEPort && port != ike.NATTPort {
			port = u.SrcPort()
		}
		switch {
		case port == ike.IKEPort:
			l.ikeMessage(now, from, who, payload, "UDP 500", len(p))
		case port == ike.NATTPort && len(payload) >= 4 && binary.BigEndian.Uint32(payload) == 0:
			l.ikeMessage(now, from, who, payload[4:], "UDP 4500 after the non-ESP marker", len(p))
		case port == ike.NATTPort && len(payload) == 1 && payload[0] == 0xff:
			l.add(step{t: now, who: who, text: "NAT-keepalive"})
		case port == ike.NATTPort:
			l.firstESP(now, who, payload, len(p), " in UDP 4500")
		}
	}
}

func (l *stepLog) ikeMessage(now time.Time, from *demoHost, who string, b []byte, where string, size int) {
	m, err := message.Parse(b)
	if err != nil {
		l.add(step{t: now, who: who, text: fmt.Sprintf("unparsable IKE message on %s: %v", where, err)})
		return
	}
	kind := "request"
	if m.Header.IsResponse() {
		kind = "response"
	}
	payloads := message.Summary(m.Payloads)
	if m.Header.Exchange != message.IKESAInit {
		payloads = strings.Replace(payloads, "SK", "SK{encrypted}", 1)
	}
	l.mu.Lock()
	if _, ok := l.firstIKE[from]; !ok {
		l.firstIKE[from] = now
	}
	l.mu.Unlock()
	l.add(step{t: now, who: who, text: fmt.Sprintf("%-11s %-8s %s  (%s, %d bytes)", m.Header.Exchange, kind, payloads, where, size)})
}

// firstESP makes a step of the first ESP packet of each SPI.
func (l *stepLog) firstESP(now time.Time, who string, esp []byte, size int, encap string) {
	if len(esp) < header.ESPHeaderLen {
		return
	}
	spi, seq := binary.BigEndian.Uint32(esp), binary.BigEndian.Uint32(esp[4:])
	l.mu.Lock()
	seen := l.espSeen[spi]
	l.espSeen[spi] = true
	l.mu.Unlock()
	if seen {
		return
	}
	l.add(step{t: now, who: who, text: fmt.Sprintf("ESP SPI 0x%08x seq %d%s, %d bytes: the SA's first packet", spi, seq, encap, size)})
	select {
	case l.espCh <- struct{}{}:
	default:
	}
}

// Log records of the IKE daemon that mean a negotiation failed.
var ikeFailures = map[string]bool{
	"IKE_AUTH refused": true, "Child SA refused": true, "Child SA not established": true,
	"IKE exchange failed": true, "IKE peer does not answer": true, "no acceptable IKE proposal": true,
	"IKE_SA_INIT key exchange failed": true, "cannot negotiate SAs": true, "first Child SA not proposed": true,
	"IKE_SA_INIT from a peer with no accepting remote": true, "IKE exchange failed to start": true,
}

// record takes one log record of host h's IKE daemon.
func (l *stepLog) record(h *demoHost, t time.Time, level slog.Level, msg string, attrs map[string]string) {
	failed := ikeFailures[msg] || level >= slog.LevelWarn
	var text string
	switch msg {
	case "IKE SA established":
		spis := strings.Fields(attrs["ike_sa"])
		text = fmt.Sprintf("IKE SA established: %s; SPIs %s; peer authenticated as %s by the pre-shared key",
			attrs["algorithms"], strings.Join(spis[:min(2, len(spis))], " "), attrs["peer_id"])
	case "Child SA established":
		encap := ""
		if attrs["udp_encap"] == "true" {
			encap = ", UDP-encapsulated"
		}
		text = fmt.Sprintf("Child SA established: %s %s mode, SPI in 0x%s out 0x%s, %s%s",
			attrs["proto"], modeName(l.mode), attrs["spi_in"], attrs["spi_out"], attrs["algorithms"], encap)
	case "NAT detected":
		text = fmt.Sprintf("NAT detected: this host behind a NAT: %s; the peer: %s", attrs["local_behind_nat"], attrs["peer_behind_nat"])
	default:
		if !failed && !l.verbose {
			return
		}
		// The reason first, then the rest as key=value.
		text = msg
		why := attrs["reason"] + attrs["err"]
		if why != "" {
			text += ": " + why
		}
		var rest []string
		for k, v := range attrs {
			if k != "component" && k != "reason" && k != "err" {
				rest = append(rest, k+"="+v)
			}
		}
		slices.Sort(rest)
		if len(rest) > 0 {
			text += " (" + strings.Join(rest, ", ") + ")"
		}
		if failed {
			text = "FAILED: " + text
		}
	}
	l.mu.Lock()
	if failed && l.fail == nil {
		l.fail = fmt.Errorf("host %s: %s", h.name, strings.TrimPrefix(text, "FAILED: "))
	}
	rec := l.rec.Load()
	l.mu.Unlock()
	if rec || failed {
		l.add(step{t: t, who: h.name, text: text})
	}
}

// handler returns the slog.Handler of host h's IKE daemon.
func (l *stepLog) handler(h *demoHost) slog.Handler { return &stepHandler{l: l, h: h} }

// stepHandler turns an IKE daemon's log records into steps.
type stepHandler struct {
	l     *stepLog
	h     *demoHost
	attrs []slog.Attr
	group string
}

func (s *stepHandler) Enabled(_ context.Context, level slog.Level) bool {
	return level >= slog.LevelInfo || s.l.verbose
}

func (s *stepHandler) Handle(_ context.Context, r slog.Record) error {
	attrs := map[string]string{}
	for _, a := range s.attrs {
		attrs[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool {
		attrs[s.group+a.Key] = a.Value.String()
		return true
	})
	t := r.Time
	if t.IsZero() {
		t = time.Now()
	}
	s.l.record(s.h, t, r.Level, r.Message, attrs)
	return nil
}

func (s *stepHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *s
	c.attrs = slices.Clone(s.attrs)
	for _, a := range as {
		a.Key = s.group + a.Key
		c.attrs = append(c.attrs, a)
	}
	return &c
}

func (s *stepHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return s
	}
	c := *s
	c.group = s.group + name + "."
	return &c
}
