package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sabre-ipsec/sabre/classify"
	"github.com/sabre-ipsec/sabre/spd"
)

func TestSelectorPrefixes(t *testing.T) {
	tests := []struct {
		sel  string
		want string
	}{
		{"10.201.2.0/24", "10.201.2.0/24"},
		{"10.0.0.1", "10.0.0.1/32"},
		{"10.0.0.1-10.0.0.9", "10.0.0.1/32 10.0.0.2/31 10.0.0.4/30 10.0.0.8/31"},
		{"10.0.0.0-10.0.1.255", "10.0.0.0/23"},
		{"fd00::/64", "fd00::/64"},
		{"fd00::1-fd00::3", "fd00::1/128 fd00::2/127"},
		{"any", "0.0.0.0/0"},
		{"0.0.0.0-255.255.255.254", "0.0.0.0/1 128.0.0.0/2 192.0.0.0/3 224.0.0.0/4 240.0.0.0/5 248.0.0.0/6 252.0.0.0/7 254.0.0.0/8 255.0.0.0/9 255.128.0.0/10 255.192.0.0/11 255.224.0.0/12 255.240.0.0/13 255.248.0.0/14 255.252.0.0/15 255.254.0.0/16 255.255.0.0/17 255.255.128.0/18 255.255.192.0/19 255.255.224.0/20 255.255.240.0/21 255.255.248.0/22 255.255.252.0/23 255.255.254.0/24 255.255.255.0/25 255.255.255.128/26 255.255.255.192/27 255.255.255.224/28 255.255.255.240/29 255.255.255.248/30 255.255.255.252/31 255.255.255.254/32"},
	}
	for _, tt := range tests {
		var got []string
		for _, p := range selectorPrefixes(classify.MustParseSelector(tt.sel)) {
			got = append(got, p.String())
		}
		if strings.Join(got, " ") != tt.want {
			t.Errorf("selectorPrefixes(%s) = %s, want %s", tt.sel, strings.Join(got, " "), tt.want)
		}
	}
}

// TestRoutesFor: routes for secure tunnel policies' -d, none for
// transport, bypass, every-address or endpoint-holding selectors.
func TestRoutesFor(t *testing.T) {
	peer := netip.MustParseAddr("192.0.2.2")
	pol := func(name string, action spd.Action, mode spd.Mode, dst string) *spd.Policy {
		return &spd.Policy{Name: name, Action: action, Mode: mode, Src: classify.MustParseSelector("10.201.1.0/24"),
			Dst: classify.MustParseSelector(dst), TunnelRemote: peer}
	}
	routes, skipped := routesFor([]*spd.Policy{
		pol("lan", spd.Secure, spd.Tunnel, "10.201.2.0/24"),
		pol("lan-again", spd.Secure, spd.Tunnel, "10.201.2.0/24"),
		pol("range", spd.Secure, spd.Tunnel, "10.9.0.0-10.9.0.3"),
		pol("transport", spd.Secure, spd.Transport, "192.0.2.2"),
		pol("bypass", spd.Bypass, 0, "10.7.0.0/16"),
		pol("all", spd.Secure, spd.Tunnel, "any"),
		pol("endpoint", spd.Secure, spd.Tunnel, "192.0.2.0/24"),
	})
	var got []string
	for _, r := range routes {
		got = append(got, r.prefix.String()+"@"+r.policy)
	}
	if want := []string{"10.201.2.0/24@lan", "10.9.0.0/30@range"}; !slices.Equal(got, want) {
		t.Errorf("routes %v, want %v", got, want)
	}
	if len(skipped) != 2 || !strings.Contains(skipped[0], "policy all: -d any is every address") ||
		!strings.Contains(skipped[1], "policy endpoint: -d 192.0.2.0/24 holds the tunnel's remote endpoint 192.0.2.2") {
		t.Errorf("skipped: %q", skipped)
	}
}

func TestNeedsForwarding(t *testing.T) {
	gw := &spd.Policy{Name: "gw", Action: spd.Secure, Mode: spd.Tunnel,
		Src: classify.MustParseSelector("10.201.1.0/24"), Dst: classify.MustParseSelector("10.201.2.0/24")}
	host := &spd.Policy{Name: "host", Action: spd.Secure, Mode: spd.Tunnel,
		Src: classify.MustParseSelector("10.201.1.1"), Dst: classify.MustParseSelector("10.201.2.0/24")}
	tr := &spd.Policy{Name: "tr", Action: spd.Secure, Mode: spd.Transport,
		Src: classify.MustParseSelector("10.201.1.0/24"), Dst: classify.MustParseSelector("10.201.2.0/24")}
	if p := needsForwarding([]*spd.Policy{host, tr, gw}, true); p != gw {
		t.Errorf("needsForwarding(v4) = %v, want gw", p)
	}
	if p := needsForwarding([]*spd.Policy{host, tr, gw}, false); p != nil {
		t.Errorf("needsForwarding(v6) = %v, want none", p)
	}
	if p := needsForwarding([]*spd.Policy{host, tr}, true); p != nil {
		t.Errorf("a host's own tunnel needs no forwarding: %v", p)
	}
}

func TestOperatorFlags(t *testing.T) {
	c, err := parseRunFlags([]string{"-address", "10.201.1.1/32,fd00:1::1/128", "-address", "10.201.1.2",
		"-routes=false", "-metrics", "127.0.0.1:9469", "-ready-file", "/run/sabre/ready", "-log-format", "json"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := operatorConfig{addrs: []netip.Prefix{netip.MustParsePrefix("10.201.1.1/32"), netip.MustParsePrefix("fd00:1::1/128"),
		netip.MustParsePrefix("10.201.1.2/32")}, routes: false, metrics: "127.0.0.1:9469", readyFile: "/run/sabre/ready", logFormat: "json", logLevel: "info"}
	if fmt.Sprint(c.op) != fmt.Sprint(want) {
		t.Errorf("parsed %+v, want %+v", c.op, want)
	}
	if c, _ := parseRunFlags(nil, io.Discard); !c.op.routes || c.op.logFormat != "text" {
		t.Errorf("defaults: %+v", c.op)
	}
	_, err = parseRunFlags([]string{"-address", "10.201.1.300/32"}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), `"10.201.1.300/32"`) {
		t.Errorf("bad -address: %v", err)
	}
}

func TestLogFormat(t *testing.T) {
	var b bytes.Buffer
	log, err := newLogger("json", "", false, &b)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("ready", "tun", "sabre0")
	log.Debug("not shown")
	var v map[string]any
	if err := json.Unmarshal(b.Bytes(), &v); err != nil || v["msg"] != "ready" || v["tun"] != "sabre0" {
		t.Errorf("json log %q: %v", b.String(), err)
	}
	b.Reset()
	log, _ = newLogger("text", "", true, &b)
	log.Debug("shown", "k", 1)
	if !strings.Contains(b.String(), "level=DEBUG msg=shown k=1") {
		t.Errorf("text log %q", b.String())
	}
	if _, err := newLogger("xml", "", false, &b); err == nil || !strings.Contains(err.Error(), `"xml"`) {
		t.Errorf("-log-format xml: %v", err)
	}
	// Per-subsystem levels.
	b.Reset()
	log, err = newLogger("text", "warn,ike=debug", false, &b)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("daemon info")
	log.Warn("daemon warning")
	ikeLog := log.With("component", "ike")
	ikeLog.Debug("ike detail")
	log.With("component", "tun").Info("tun info")
	got := b.String()
	for _, want := range []string{"msg=\"daemon warning\"", "msg=\"ike detail\" component=ike"} {
		if !strings.Contains(got, want) {
			t.Errorf("log lacks %s:\n%s", want, got)
		}
	}
	for _, not := range []string{"daemon info", "tun info"} {
		if strings.Contains(got, not) {
			t.Errorf("log has %q below its level:\n%s", not, got)
		}
	}
	for _, bad := range []string{"loud", "ike=", "ike=loud,info"} {
		if _, err := newLogger("text", bad, false, &b); err == nil || !strings.Contains(err.Error(), "-log-level") {
			t.Errorf("-log-level %q: %v", bad, err)
		}
	}
}

// TestStartError: the errors of a failed start say what to do.
func TestStartError(t *testing.T) {
	cfg := &daemonConfig{tunName: "sabre0"}
	tests := []struct {
		err  error
		want string
	}{
		{fmt.Errorf("tun: create %q: %w", "sabre0", unix.EPERM), "needs root or CAP_NET_ADMIN (and CAP_NET_RAW for raw ESP"},
		{fmt.Errorf("tun: raw socket ip4:esp: %w", unix.EPERM), "needs root or CAP_NET_ADMIN"},
		{fmt.Errorf("tun: listen udp4 port 500: %w", unix.EADDRINUSE), "another IKE daemon (charon? pluto?) holds UDP 500"},
		{fmt.Errorf("tun: create %q: %w", "sabre0", unix.EBUSY), `TUN device "sabre0" is busy`},
		{fmt.Errorf("tun: create %q: %w", "sabre0", unix.EINVAL), `"sabre0" exists and is not a free TUN device: name another with -tun`},
	}
	for _, tt := range tests {
		got := startError(tt.err, cfg)
		if !strings.Contains(got.Error(), tt.want) || !errors.Is(got, tt.err) {
			t.Errorf("startError(%v) = %v, want it to say %q and wrap the cause", tt.err, got, tt.want)
		}
	}
	other := errors.New("something else")
	if startError(other, cfg) != other {
		t.Error("an unknown error is changed")
	}
}
