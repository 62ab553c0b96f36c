package ike

import (
	"encoding/json"
	"log/slog"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sabre-ipsec/sabre/ipsec"
	"github.com/sabre-ipsec/sabre/ipsec/messaging"
	"github.com/sabre-ipsec/sabre/sad"
)

// TestHalfOpenAndCookieMode: HalfOpen counts the half-open IKE SAs and
// reports cookie mode from half of the limit on.
func TestHalfOpenAndCookieMode(t *testing.T) {
	_, _, b := pair(t, fastSuite, fastSuite, []string{"AES128-GCM16"})
	b.d.mgr.MaxHalfOpen = 4
	peer := netip.MustParseAddrPort("198.51.100.1:500")
	for i, want := range []struct {
		n      int
		cookie bool
	}{{1, false}, {2, true}, {3, true}} {
		key := SAKey{SPIi: uint64(1000 + i), SPIr: uint64(2000 + i)}
		if err := b.d.mgr.Add(key, peer, true, &SA{key: key}); err != nil {
			t.Fatal(err)
		}
		b.d.mgr.Checkin(key)
		if n, cookie := b.d.HalfOpen(); n != want.n || cookie != want.cookie {
			t.Errorf("after %d half-open SAs: HalfOpen() = %d, %v; want %d, %v", i+1, n, cookie, want.n, want.cookie)
		}
	}
}

// TestChildRekeysCounted: a Child SA rekey counts on both sides.
func TestChildRekeysCounted(t *testing.T) {
	_, a, b := pair(t, fastSuite, fastSuite, []string{"AES128-GCM16"})
	handshake(t, a, 10*time.Second)
	spi, _ := strconv.ParseUint(a.d.Status()[0].Children[0].SPIIn, 16, 32)
	a.d.childExpiring(messaging.Event{Type: messaging.MsgSAExpired, SPI: uint32(spi), Direction: sad.Inbound})
	waitFor(t, "the rekey to be counted on both sides", func() bool {
		return a.d.Stats().ChildRekeys.Load() == 1 && b.d.Stats().ChildRekeys.Load() == 1
	})
}

// TestDPDFailureCounted: a liveness check the peer never answers deletes
// the IKE SA and counts a DPD failure; an answered one counts nothing.
func TestDPDFailureCounted(t *testing.T) {
	// -t 3 -I 100ms: the unanswered check fails within half a second.
	n, a, _ := pair(t, fastSuite+" -t 3 -I 100ms", fastSuite, []string{"AES128-GCM16"})
	handshake(t, a, 10*time.Second)
	n.wg.Wait()
	live := func() {
		keys := a.d.mgr.All()
		if len(keys) != 1 {
			t.Fatalf("%d IKE SAs, want 1", len(keys))
		}
		sa, err := a.d.mgr.Checkout(keys[0], netip.AddrPort{})
		if err != nil {
			t.Fatal(err)
		}
		a.d.checkLiveness(sa)
		a.d.checkin(sa)
	}
	sent := a.d.Stats().Sent.Load()
	live()
	waitFor(t, "the answered liveness check", func() bool {
		st := a.d.Status()
		return a.d.Stats().Sent.Load() > sent && len(st) == 1 && st[0].Retransmits == 0 && a.d.Stats().Received.Load() > 0
	})
	n.wg.Wait()
	if got := a.d.Stats().DPDFailures.Load(); got != 0 {
		t.Fatalf("DPDFailures = %d after an answered check", got)
	}
	n.mu.Lock()
	n.filter = func([]byte, netip.AddrPort, netip.AddrPort) [][]byte { return nil } // the peer is gone
	n.mu.Unlock()
	live()
	waitFor(t, "the unanswered liveness check to end the IKE SA", func() bool {
		return a.d.Stats().DPDFailures.Load() == 1 && len(a.d.Status()) == 0
	})
}

// TestStatusJSONKeys: `ike netstat -j` writes SAStatus; its keys are
// snake_case like every other JSON sabre prints.
func TestStatusJSONKeys(t *testing.T) {
	b, err := json.Marshal(SAStatus{Children: []ChildStatus{{}}})
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	snake := regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	var check func(prefix string, m map[string]any)
	check = func(prefix string, m map[string]any) {
		for k, val := range m {
			if !snake.MatchString(k) {
				t.Errorf("JSON key %s%s is not snake_case", prefix, k)
			}
			if list, ok := val.([]any); ok {
				for _, e := range list {
					if sub, ok := e.(map[string]any); ok {
						check(prefix+k+"[].", sub)
					}
				}
			}
		}
	}
	check("", v)
	if _, ok := v["children"].([]any)[0].(map[string]any)["spi_in"]; !ok {
		t.Errorf("child keys: %s", b)
	}
}

// TestLogLinesNameTheTunnel: every log line about an IKE SA, from
// IKE_SA_INIT to its deletion, carries the remote's name and the SPIs, so
// that `grep` follows one tunnel.
func TestLogLinesNameTheTunnel(t *testing.T) {
	n, a, b := pair(t, fastSuite, fastSuite, []string{"AES128-GCM16"})
	var buf syncBuffer
	a.d.log = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})).With("component", "ike")
	sent := handshake(t, a, 10*time.Second)
	if res, _ := b.e.Decapsulate(sent); res != ipsec.SecureTunnel {
		t.Fatal(res)
	}
	n.wg.Wait()
	a.d.Flush()
	n.wg.Wait()
	st := regexp.MustCompile(`ike_sa="b [0-9a-f]{16}_i [0-9a-f]{16}_r 192\.0\.2\.2:500"`)
	lines := 0
	for _, l := range strings.Split(buf.String(), "\n") {
		if !strings.Contains(l, "ike_sa=") {
			continue
		}
		lines++
		if !st.MatchString(l) {
			t.Errorf("log line without the remote's name and SPIs: %s", l)
		}
	}
	if lines < 3 {
		t.Errorf("only %d lines about the IKE SA:\n%s", lines, buf.String())
	}
}
