package ike

import (
	"context"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/sabre-ipsec/sabre/classify"
	"github.com/sabre-ipsec/sabre/internal/testutil/packet"
	"github.com/sabre-ipsec/sabre/ipsec"
	"github.com/sabre-ipsec/sabre/ipsec/messaging"
	"github.com/sabre-ipsec/sabre/pktbuf"
	"github.com/sabre-ipsec/sabre/sad"
	"github.com/sabre-ipsec/sabre/spd"
)

// logRecords hands the daemon's log records to a channel.
type logRecords chan slog.Record

func (c logRecords) Enabled(context.Context, slog.Level) bool { return true }
func (c logRecords) Handle(_ context.Context, r slog.Record) error {
	select {
	case c <- r:
	default: // never block the daemon; the test fails if its record is lost
	}
	return nil
}
func (c logRecords) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c logRecords) WithGroup(string) slog.Handler      { return c }

// TestAcquireWithoutRemote: an ACQUIRE for a policy that names no IKE
// remote (-g) is failed (ACQUIRE_FAIL) when IKE is the only key manager,
// but left to the others when another application is registered: its SAs
// come from that key manager (sabre run -msgsock), and an ACQUIRE_FAIL
// would drop the packets queued for them.
func TestAcquireWithoutRemote(t *testing.T) {
	for _, tc := range []struct {
		name      string
		otherKM   bool
		wantMsg   string
		wantQueue bool // the negotiation is still pending afterwards
	}{
		{"ike-alone", false, "cannot negotiate SAs", false},
		{"other-key-manager", true, "ACQUIRE left to another key manager", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := ipsec.New(spd.NewDB(), sad.NewDB(), ipsec.Config{Output: func(b *pktbuf.Buffer) { pktbuf.DefaultPool.Put(b) }})
			t.Cleanup(e.Close)
			m := messaging.New(e)
			logs := make(logRecords, 256)
			d, err := New(Config{Messaging: m, Send: func([]byte, netip.AddrPort, netip.AddrPort) error { return nil },
				Log: slog.New(logs), LocalAddr: func(netip.Addr) (netip.Addr, error) { return netip.MustParseAddr("192.0.2.1"), nil }})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(d.Close)
			if tc.otherKM {
				if _, err := m.Register("km", func(messaging.Event) {}); err != nil {
					t.Fatal(err)
				}
			}
			id, err := m.AddPolicy(spd.Policy{Name: "km", Action: spd.Secure, Mode: spd.Tunnel, Flags: spd.FlagProtoESP,
				Src: classify.MustParseSelector("10.1.0.0/24"), Dst: classify.MustParseSelector("10.2.0.0/24"),
				TunnelLocal: netip.MustParseAddr("192.0.2.1"), TunnelRemote: netip.MustParseAddr("192.0.2.2")})
			if err != nil {
				t.Fatal(err)
			}
			b := packet.UDPBuffer(netip.MustParseAddrPort("10.1.0.5:1"), netip.MustParseAddrPort("10.2.0.9:2"), []byte("x"))
			if res, err := e.Encapsulate(b); res != ipsec.Pending {
				t.Fatalf("first packet: %v %v", res, err)
			}
			// IKE logs what it did with the ACQUIRE; wait for that.
			timeout := time.After(10 * time.Second) // a failure bound only
			for found := false; !found; {
				select {
				case r := <-logs:
					found = r.Message == tc.wantMsg
				case <-timeout:
					t.Fatalf("IKE did not log %q", tc.wantMsg)
				}
			}
			// AcquireFailed succeeds only while the negotiation is pending.
			if pending := e.AcquireFailed(id) == nil; pending != tc.wantQueue {
				t.Errorf("negotiation pending after IKE saw the ACQUIRE: %v, want %v", pending, tc.wantQueue)
			}
		})
	}
}
