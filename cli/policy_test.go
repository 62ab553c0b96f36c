package cli

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sabre-ipsec/sabre/classify"
	"github.com/sabre-ipsec/sabre/ike"
	"github.com/sabre-ipsec/sabre/spd"
	"github.com/sabre-ipsec/sabre/xe"
)

const ref1 = "ipsec policy -n policy1 -g remoteINFO -t ESP -e 3DES-CBC -a HMAC-SHA-2-384 -m transport -p tcp -r 10.0.0.78 -s 10.0.0.77 -d 10.0.0.78"

func TestPolicyAdd(t *testing.T) {
	sel := classify.MustParseSelector
	base := spd.FlagProtoESP | spd.FlagCheckReplay
	tests := []struct {
		line  string
		check func(t *testing.T, p *spd.Policy)
	}{
		{ref1, func(t *testing.T, p *spd.Policy) {
			want := spd.Policy{ID: p.ID, Name: "policy1", Action: spd.Secure, Mode: spd.Transport, Priority: 4, Proto: 6,
				Src: sel("10.0.0.77"), Dst: sel("10.0.0.78"), Flags: base, TunnelRemote: netip.MustParseAddr("10.0.0.78"),
				RemoteName: "remoteINFO", ESPAlgorithms: []string{"3DES-CBC"}, AHAlgorithms: []string{"HMAC-SHA-2-384"},
				Lifetime: time.Hour, ReplayWindow: 64}
			if p.String() != want.String() || !slices.Equal(p.ESPAlgorithms, want.ESPAlgorithms) ||
				!slices.Equal(p.AHAlgorithms, want.AHAlgorithms) || p.RemoteName != want.RemoteName ||
				p.Lifetime != want.Lifetime || p.ReplayWindow != 64 {
				t.Errorf("got %+v\nwant %+v", *p, want)
			}
		}},
		// The reference's lists, and `policy` without `ipsec`.
		{"policy -n P -g mongo -h -l 4 -p udp -m transport -t ESP -a HMAC-MD5,HMAC-SHA-1 -e NULL_ENC,3DES-CBC,AES128-CBC -r 10.0.0.76 -s 10.0.0.140 -d 10.0.0.76",
			func(t *testing.T, p *spd.Policy) {
				if !slices.Equal(p.ESPAlgorithms, []string{"NULL_ENC", "3DES-CBC", "AES128-CBC"}) ||
					!slices.Equal(p.AHAlgorithms, []string{"HMAC-MD5", "HMAC-SHA-1"}) ||
					p.Flags != base|spd.FlagAuthSHA2ICVShort || p.Proto != 17 {
					t.Errorf("got %v %v %v", p.ESPAlgorithms, p.AHAlgorithms, p.Flags)
				}
			}},
		// Tunnel mode: the local endpoint comes from LocalAddr, DF is copied.
		{"ipsec policy -n T -t ESP -e AES256-GCM16 -m tunnel -p icmp -r 10.0.0.78 -s 10.1.0.0/16 -d 10.2.0.0/16 -c -y -E",
			func(t *testing.T, p *spd.Policy) {
				want := base | spd.FlagDFCopy | spd.FlagTxTFCPadding | spd.FlagTxDummyPkt | spd.FlagFullECN
				if p.Mode != spd.Tunnel || p.TunnelLocal != netip.MustParseAddr("10.0.0.77") || p.Flags != want || p.AHAlgorithms != nil {
					t.Errorf("got %v local %v", p, p.TunnelLocal)
				}
			}},
		{"ipsec policy -n T -e aes128gcm16 -m tunnel -r 192.0.2.1 -L 192.0.2.9 -s any -d any -F set",
			func(t *testing.T, p *spd.Policy) {
				if p.TunnelLocal != netip.MustParseAddr("192.0.2.9") || p.Flags != base|spd.FlagDFSet {
					t.Errorf("got %v local %v", p, p.TunnelLocal)
				}
			}},
		{"ipsec policy -n T -e aes128gcm16 -m tunnel -r 192.0.2.1 -s any -d any -F clear",
			func(t *testing.T, p *spd.Policy) {
				if p.Flags != base {
					t.Errorf("flags %v", p.Flags)
				}
			}},
		{"ipsec policy -n A -t AH -a HMAC-SHA-2-256 -m transport -s 10.0.0.1 -d 10.0.0.2 -p 47",
			func(t *testing.T, p *spd.Policy) {
				if p.Flags != spd.FlagProtoAH|spd.FlagCheckReplay || p.Proto != 47 || p.ESPAlgorithms != nil {
					t.Errorf("got %v", p)
				}
			}},
		{"ipsec policy -n AE -t AHESP -a AES-XCBC -e AES192-CTR -m transport -s any6 -d 2001:db8::/32 -p icmp6 -P",
			func(t *testing.T, p *spd.Policy) {
				if p.Flags != base|spd.FlagProtoAH|spd.FlagCheckESPPad || p.Proto != 58 {
					t.Errorf("got %v", p)
				}
			}},
		{"ipsec policy -n R -e chacha20poly1305 -m transport -s 10.0.0.1 -d 10.0.0.2 -R 0 -k 60 -l 1 -o",
			func(t *testing.T, p *spd.Policy) {
				if p.Flags != spd.FlagProtoESP|spd.FlagKeynegManual || p.Lifetime != time.Minute || p.Priority != 1 {
					t.Errorf("got %v lifetime %v", p, p.Lifetime)
				}
			}},
		{"ipsec policy -n K -e aes128gcm16 -m transport -s 10.0.0.1 -d 10.0.0.2 -k 6 -K 4",
			func(t *testing.T, p *spd.Policy) {
				if lo, hi := p.RekeyWindow(); p.Lifetime != 6*time.Second || p.RekeyTime != 4*time.Second || lo != 3600*time.Millisecond || hi != 4*time.Second {
					t.Errorf("got lifetime %v rekey time %v window %v-%v", p.Lifetime, p.RekeyTime, lo, hi)
				}
			}},
		{"ipsec policy -n R -e aes128gcm16 -m transport -s 10.0.0.1 -d 10.0.0.2 -R 1024",
			func(t *testing.T, p *spd.Policy) {
				if p.ReplayWindow != 1024 || p.Flags&spd.FlagCheckReplay == 0 {
					t.Errorf("got %v window %d", p, p.ReplayWindow)
				}
			}},
		{"ipsec policy -n B -b bypass -p udp -s 10.0.0.77,500 -d any -l 2",
			func(t *testing.T, p *spd.Policy) {
				if p.Action != spd.Bypass || p.Priority != 2 || p.Src.String() != "10.0.0.77,500" || p.Flags != 0 {
					t.Errorf("got %v", p)
				}
			}},
		{"ipsec policy -n D -b DROP -s any6 -d any6 -l 7",
			func(t *testing.T, p *spd.Policy) {
				if p.Action != spd.Drop || p.Priority != 7 {
					t.Errorf("got %v", p)
				}
			}},
		{`ipsec policy -n "name with spaces" -b secure -e 3des -a md5 -m TRANSPORT -p ANY -s 10.0.0.1 -d 10.0.0.2`,
			func(t *testing.T, p *spd.Policy) {
				if p.Name != "name with spaces" || p.Mode != spd.Transport || p.Proto != 0 {
					t.Errorf("got %v", p)
				}
			}},
	}
	for _, tc := range tests {
		env, _ := newEnv(t)
		out := mustRun(t, env, tc.line)
		list := env.Engine.SPD().List()
		if len(list) != 1 {
			t.Fatalf("%s: %d policies", tc.line, len(list))
		}
		if !strings.Contains(out, "added (spid 1)") {
			t.Errorf("%s: output %q", tc.line, out)
		}
		t.Run(list[0].Name, func(t *testing.T) { tc.check(t, list[0]) })
	}
}

func TestPolicyErrors(t *testing.T) {
	const ok = " -m transport -s 10.0.0.1 -d 10.0.0.2"
	tests := []struct {
		line string
		code xe.Code
		want []string
	}{
		{"ipsec policy", xe.OK, []string{"nothing to do"}},
		{"ipsec policy -q x", xe.OK, []string{`unknown option "-q"`}},
		{"ipsec policy -nP -e 3des", xe.OK, []string{`unknown option "-nP"`}},
		{"ipsec policy stray", xe.OK, []string{`unexpected argument "stray"`}},
		{"ipsec policy -n", xe.OK, []string{`option "-n" needs a value`}},
		{"ipsec policy -n -e 3des", xe.OK, []string{`"-n" needs a value, not the option "-e"`}},
		{"ipsec policy -n a -n b", xe.OK, []string{`"-n" given twice`}},
		{"ipsec policy -e aes128gcm16" + ok, xe.BadParam, []string{"-n name is required"}},
		{"ipsec policy -n ALLPOLICIES -e aes128gcm16" + ok, xe.BadParam, []string{`-n "ALLPOLICIES"`, "reserved"}},
		{`ipsec policy -n "" -e aes128gcm16` + ok, xe.BadParam, []string{`-n ""`}},
		{"ipsec policy -n P -e 3DES-CBX -a HMAC-SHA-1" + ok, xe.UnknownAlgorithm, []string{`-e "3DES-CBX": unknown encryption algorithm`}},
		{"ipsec policy -n P -e 3DES-CBC,AES-CBC -a HMAC-SHA-1" + ok, xe.UnknownAlgorithm, []string{`-e "AES-CBC": give the AES key size`}},
		{"ipsec policy -n P -e 3DES-CBC,,AES128-CBC -a HMAC-SHA-1" + ok, xe.BadParam, []string{`-e "3DES-CBC,,AES128-CBC": empty name`}},
		{"ipsec policy -n P -e 3DES-CBC -a HMAC-SHA-1,HMAC-SHA-3" + ok, xe.UnknownAlgorithm, []string{`-a "HMAC-SHA-3": unknown authentication algorithm`}},
		{"ipsec policy -n P -e 3DES-CBC -a none" + ok, xe.UnknownAlgorithm, []string{`-a "none": not an authentication algorithm`}},
		{"ipsec policy -n P -e 3DES-CBC" + ok, xe.UnknownAlgorithm, []string{`-e "3DES-CBC" needs an authentication algorithm`}},
		{"ipsec policy -n P -e NULL_ENC" + ok, xe.UnknownAlgorithm, []string{`-e "NULL_ENC" needs an authentication algorithm`}},
		{"ipsec policy -n P -e AES128-GCM16 -a HMAC-SHA-1" + ok, xe.BadParam, []string{`-a "HMAC-SHA-1": the combined-mode ciphers`}},
		{"ipsec policy -n P -a HMAC-SHA-1" + ok, xe.UnknownAlgorithm, []string{"-e encryption algorithm list is required"}},
		{"ipsec policy -n P -t AH -e 3DES-CBC -a HMAC-SHA-1" + ok, xe.BadParam, []string{`-e "3DES-CBC": AH does not encrypt`}},
		{"ipsec policy -n P -t AH" + ok, xe.UnknownAlgorithm, []string{"-a authentication algorithm list is required for AH"}},
		{"ipsec policy -n P -t AHESP -e aes128gcm16" + ok, xe.UnknownAlgorithm, []string{"-a authentication algorithm list is required for AH"}},
		{"ipsec policy -n P -t GRE -e aes128gcm16" + ok, xe.BadParam, []string{`-t "GRE"`}},
		{"ipsec policy -n P -e CURVE25519" + ok, xe.UnknownAlgorithm, []string{`-e "CURVE25519": no encryption algorithm, only PFS groups`}},
		{"ipsec policy -n P -e AES128-GCM16,MODP768" + ok, xe.UnknownAlgorithm, []string{`-e "MODP768": PFS group not implemented`}},
		{"ipsec policy -n P -e AES128-CBC -a HMAC-SHA-1,ECP256" + ok, xe.BadParam, []string{`-a "ECP256": an ESP policy lists its PFS groups in -e`}},
		{"ipsec policy -n P -t AH -a MODP2048" + ok, xe.UnknownAlgorithm, []string{`-a "MODP2048": no authentication algorithm, only PFS groups`}},
		{"ipsec policy -n P -e aes128gcm16 -s 10.0.0.1 -d 10.0.0.2", xe.BadParam, []string{"-m transport|tunnel is required"}},
		{"ipsec policy -n P -e aes128gcm16 -m bus -s 10.0.0.1 -d 10.0.0.2", xe.BadParam, []string{`-m "bus"`}},
		{"ipsec policy -n P -e aes128gcm16 -m transport -d 10.0.0.2", xe.BadIDType, []string{"-s source selector is required"}},
		{"ipsec policy -n P -e aes128gcm16 -m transport -s 10.0.0.2", xe.BadIDType, []string{"-d destination selector is required"}},
		{"ipsec policy -n P -e aes128gcm16 -m transport -s 10.0.0.300 -d 10.0.0.2", xe.BadIDType, []string{`-s "10.0.0.300"`, "not an IPv4 or IPv6 address"}},
		{"ipsec policy -n P -e aes128gcm16 -m transport -s 10.0.0.1 -d 10.0.0.0/33", xe.BadAddrRange, []string{`-d "10.0.0.0/33"`, "prefix length 33"}},
		{"ipsec policy -n P -e aes128gcm16 -m transport -s 10.0.0.1 -d 10.0.0.2,70000", xe.BadPortNumber, []string{`-d "10.0.0.2,70000"`}},
		{"ipsec policy -n P -e aes128gcm16 -m transport -s 10.0.0.1 -d fe80::1", xe.BadAddrRange, []string{`-s "10.0.0.1" and -d "fe80::1" are of different address families`}},
		{"ipsec policy -n P -e aes128gcm16 -p sctpx" + ok, xe.UnknownIPProtocol, []string{`-p "sctpx"`}},
		{"ipsec policy -n P -e aes128gcm16 -p 256" + ok, xe.UnknownIPProtocol, []string{`-p "256"`}},
		{"ipsec policy -n P -e aes128gcm16 -p icmp -m transport -s fe80::1 -d fe80::2", xe.UnknownIPProtocol, []string{`-p "icmp" with IPv6 selectors: use icmp6`}},
		{"ipsec policy -n P -e aes128gcm16 -p icmp6" + ok, xe.UnknownIPProtocol, []string{`-p "icmp6" with IPv4 selectors: use icmp`}},
		{"ipsec policy -n P -e aes128gcm16 -l 0" + ok, xe.BadParam, []string{`-l "0": priority must be 1 (highest) .. 7 (lowest)`}},
		{"ipsec policy -n P -e aes128gcm16 -l 8" + ok, xe.BadParam, []string{`-l "8"`}},
		{"ipsec policy -n P -e aes128gcm16 -k 0" + ok, xe.BadParam, []string{`-k "0": want seconds`}},
		{"ipsec policy -n P -e aes128gcm16 -k 1h" + ok, xe.BadParam, []string{`-k "1h"`}},
		{"ipsec policy -n P -e aes128gcm16 -K 0" + ok, xe.BadParam, []string{`-K "0": want seconds`}},
		{"ipsec policy -n P -e aes128gcm16 -K 1e10" + ok, xe.BadParam, []string{`-K "1e10": want seconds`}},
		{"ipsec policy -n P -e aes128gcm16 -k 60 -K 60" + ok, xe.BadParam, []string{`-K "60": the rekey time must be below the lifetime (-k 60)`}},
		{"ipsec policy -n P -e aes128gcm16 -K 3600" + ok, xe.BadParam, []string{`-K "3600": the rekey time must be below the lifetime (-k 3600)`}},
		{"ipsec policy -n P -b bypass -K 60 -s any -d any", xe.BadParam, []string{"-K: a bypass policy takes only -n -s -d -p -l"}},
		{"ipsec policy -n P -e aes128gcm16 -R -1" + ok, xe.BadParam, []string{`-R "-1": replay window must be 0..65536`}},
		{"ipsec policy -n P -e aes128gcm16 -R 70000" + ok, xe.BadParam, []string{`-R "70000": replay window must be 0..65536`}},
		{"ipsec policy -n P -e aes128gcm16 -r 10.0.0.999" + ok, xe.BadParam, []string{`-r "10.0.0.999": not an IPv4 or IPv6 address`}},
		{"ipsec policy -n P -e aes128gcm16 -r fe80::1%eth0" + ok, xe.BadParam, []string{`-r "fe80::1%eth0": zones are not supported`}},
		{"ipsec policy -n P -e aes128gcm16 -r fe80::1" + ok, xe.BadAddrRange, []string{`-r "fe80::1": in transport mode the remote must be of the selectors' address family`}},
		{"ipsec policy -n P -e aes128gcm16 -m tunnel -s any -d any", xe.BadParam, []string{"-r remote endpoint is required in tunnel mode"}},
		{"ipsec policy -n P -e aes128gcm16 -L 10.0.0.1" + ok, xe.BadParam, []string{`-L "10.0.0.1": a local tunnel endpoint needs -m tunnel`}},
		{"ipsec policy -n P -e aes128gcm16 -m tunnel -r 10.0.0.9 -L fe80::1 -s any -d any", xe.BadAddrRange, []string{`-L "fe80::1" and -r 10.0.0.9`}},
		{"ipsec policy -n P -e aes128gcm16 -g \"\"" + ok, xe.BadParam, []string{`-g ""`}},
		{"ipsec policy -n P -e aes128gcm16 -o -g mongo" + ok, xe.BadParam, []string{`-g "mongo": a manually keyed policy (-o) is never negotiated by IKE`}},
		{"ipsec policy -n P -e aes128gcm16 -c" + ok, xe.BadParam, []string{"-c: TFC padding is supported for ESP in tunnel mode only"}},
		{"ipsec policy -n P -e aes128gcm16 -y" + ok, xe.BadParam, []string{"-y: dummy packets need ESP in tunnel mode"}},
		{"ipsec policy -n P -t AH -a sha1 -y -m tunnel -r 10.0.0.9 -s any -d any", xe.BadParam, []string{"-y: dummy packets need ESP"}},
		{"ipsec policy -n P -t AH -a sha1 -P" + ok, xe.BadParam, []string{"-P: the ESP pad check needs ESP"}},
		{"ipsec policy -n P -e aes128gcm16 -E" + ok, xe.BadParam, []string{"-E: ECN tunnelling needs -m tunnel"}},
		{"ipsec policy -n P -e aes128gcm16 -F copy" + ok, xe.BadParam, []string{`-F "copy": the outer DF bit needs -m tunnel`}},
		{"ipsec policy -n P -e aes128gcm16 -m tunnel -r 10.0.0.9 -s any -d any -F maybe", xe.BadParam, []string{`-F "maybe"`}},
		{"ipsec policy -n P -b pass -s any -d any", xe.BadParam, []string{`-b "pass"`}},
		{"ipsec policy -n P -b bypass -m transport -s any -d any", xe.BadParam, []string{"-m: a bypass policy takes only -n -s -d -p -l"}},
		{"ipsec policy -n P -b drop -e 3des -s any -d any", xe.BadParam, []string{"-e: a drop policy takes only"}},
		{"ipsec policy -v -x P", xe.OK, []string{"-v takes only -n, not -x"}},
		{"ipsec policy -x P -n Q", xe.OK, []string{"-x takes no other option, not -n"}},
		{`ipsec policy -x ""`, xe.BadParam, []string{`-x ""`}},
	}
	for _, tc := range tests {
		env, _ := newEnv(t)
		_, err := run(t, env, tc.line)
		wantErr(t, tc.line, err, tc.code, tc.want...)
		if n := env.Engine.SPD().Len(); n != 0 {
			t.Errorf("%s: %d policies added", tc.line, n)
		}
	}
}

// TestPolicyApplyErrors covers errors found when the policy is added.
func TestPolicyApplyErrors(t *testing.T) {
	env, _ := newEnv(t)
	mustRun(t, env, ref1)
	_, err := run(t, env, ref1)
	wantErr(t, "same name", err, xe.Exist, `ipsec policy -n policy1:`, `a policy named "policy1" exists`)
	_, err = run(t, env, strings.Replace(ref1, "-n policy1", "-n other", 1))
	wantErr(t, "same traffic", err, xe.Exist, "ipsec policy -n other:", "selects the same traffic")

	env.LocalAddr = nil
	_, err = run(t, env, "ipsec policy -n T -e aes128gcm16 -m tunnel -r 10.0.0.9 -s any -d any")
	wantErr(t, "no LocalAddr", err, xe.BadParam, "this host's address toward 10.0.0.9 is not known here: give it with -L")
	env.LocalAddr = func(netip.Addr) (netip.Addr, error) { return netip.Addr{}, errors.New("no route to host") }
	_, err = run(t, env, "ipsec policy -n T -e aes128gcm16 -m tunnel -r 10.0.0.9 -s any -d any")
	wantErr(t, "LocalAddr fails", err, xe.OK, "10.0.0.9 (or give -L): no route to host")
	env.LocalAddr = func(netip.Addr) (netip.Addr, error) { return netip.MustParseAddr("fe80::1"), nil }
	_, err = run(t, env, "ipsec policy -n T -e aes128gcm16 -m tunnel -r 10.0.0.9 -s any -d any")
	wantErr(t, "LocalAddr of the wrong family", err, xe.BadParam, "is fe80::1, not of its family")
	if n := env.Engine.SPD().Len(); n != 1 {
		t.Errorf("%d policies, want 1", n)
	}
}

func TestPolicyViewDelete(t *testing.T) {
	env, _ := newEnv(t)
	if out := mustRun(t, env, "ipsec policy -v"); out != "no policies\n" {
		t.Errorf("empty view: %q", out)
	}
	lines := []string{
		ref1,
		"ipsec policy -n T -t AHESP -e AES256-GCM16 -a HMAC-SHA-2-256 -m tunnel -r 10.0.0.9 -L 10.0.0.1 -s 10.1.0.0/16 -d 10.2.0.0/16 -p udp -l 3 -k 600 -c -h -y -o -P -E -R 128 -F set",
		"ipsec policy -n U -e AES128-CBC -a sha1 -m tunnel -r 10.0.0.9 -s 10.3.0.0/16 -d any -R 0 -F clear",
		`ipsec policy -n "B 1" -b bypass -p udp -s 10.0.0.77,500 -d any -l 2`,
	}
	for _, l := range lines {
		mustRun(t, env, l)
	}
	out := mustRun(t, env, "ipsec policy -v")
	for _, want := range []string{
		"spid 4: ipsec policy -n \"B 1\" -b bypass -p udp -s 10.0.0.77,500 -d any -l 2\n    flags none\n",
		"spid 1: " + "ipsec policy -n policy1 -g remoteINFO -t ESP -e 3DES-CBC -a HMAC-SHA-2-384 -m transport -p tcp -r 10.0.0.78 -s 10.0.0.77 -d 10.0.0.78 -l 4\n" +
			"    flags SP_PROTO_ESP|SP_CHECK_REPLAY, lifetime 3600s, rekey at 2880s-3240s, replay window 64\n",
		"spid 2: ipsec policy -n T -t AHESP -e AES256-GCM16 -a HMAC-SHA-2-256 -m tunnel -p udp -r 10.0.0.9 -s 10.1.0.0/16 -d 10.2.0.0/16 -l 3 -k 600 -c -h -y -o -P -E -R 128 -F set -L 10.0.0.1\n",
		"-R 0 -F clear -L 10.0.0.77\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("view lacks %q:\n%s", want, out)
		}
	}
	// The view's command lines re-create the same policies.
	env2, _ := newEnv(t)
	for _, l := range strings.Split(out, "\n") {
		if cmd, ok := strings.CutPrefix(l, "spid "); ok {
			_, cmd, _ = strings.Cut(cmd, ": ")
			mustRun(t, env2, cmd)
		}
	}
	// Only the spids differ: the copies were added in priority order.
	unspid := func(s string) []string {
		var ls []string
		for _, l := range strings.Split(s, "\n") {
			if _, rest, ok := strings.Cut(l, ": "); ok && strings.HasPrefix(l, "spid ") {
				l = rest
			}
			ls = append(ls, l)
		}
		slices.Sort(ls)
		return ls
	}
	if out2 := mustRun(t, env2, "ipsec policy -v"); !slices.Equal(unspid(out2), unspid(out)) {
		t.Errorf("re-created policies differ:\n%s\nwant\n%s", out2, out)
	}

	one := mustRun(t, env, "ipsec policy -v -n T")
	if !strings.HasPrefix(one, "spid 2: ") || strings.Count(one, "spid") != 1 {
		t.Errorf("view -n T: %q", one)
	}
	_, err := run(t, env, "ipsec policy -v -n nope")
	wantErr(t, "view unknown", err, xe.PolicyNotFound, `-n "nope": no such policy`)

	if out := mustRun(t, env, "ipsec policy -x T"); out != "deleted 1 policy, 0 SAs\n" {
		t.Errorf("delete: %q", out)
	}
	if env.Engine.SPD().ByName("T") != nil || env.Engine.SPD().Len() != 3 {
		t.Errorf("T not deleted")
	}
	_, err = run(t, env, "ipsec policy -x T")
	wantErr(t, "delete unknown", err, xe.PolicyNotFound, `-x "T": no such policy`)
	if out := mustRun(t, env, "ipsec policy -x ALLPOLICIES"); out != "deleted 3 policies, 0 SAs\n" {
		t.Errorf("delete all: %q", out)
	}
	if n := env.Engine.SPD().Len(); n != 0 {
		t.Errorf("%d policies left", n)
	}
}

// TestPolicyRekeyTime: -K sets the soft lifetime apart from -k; the view
// shows both and when IKE rekeys, and its command line re-creates them.
func TestPolicyRekeyTime(t *testing.T) {
	env, _ := newEnv(t)
	mustRun(t, env, "ipsec policy -n K -e AES128-GCM16 -m tunnel -r 10.0.0.9 -s 10.4.0.0/16 -d any -k 6 -K 4")
	out := mustRun(t, env, "ipsec policy -v -n K")
	want := "spid 1: ipsec policy -n K -t ESP -e AES128-GCM16 -m tunnel -p any -r 10.0.0.9 -s 10.4.0.0/16 -d any -l 4 -k 6 -K 4 -L 10.0.0.77\n" +
		"    flags SP_PROTO_ESP|SP_CHECK_REPLAY|SP_DF_COPY, lifetime 6s, rekey at 3.6s-4s, replay window 64\n"
	if out != want {
		t.Errorf("view:\n%s\nwant\n%s", out, want)
	}
	env2, _ := newEnv(t)
	_, line, _ := strings.Cut(strings.SplitN(out, "\n", 2)[0], ": ")
	mustRun(t, env2, line)
	if p := env2.Engine.SPD().ByName("K"); p == nil || p.Lifetime != 6*time.Second || p.RekeyTime != 4*time.Second {
		t.Errorf("re-created from %q: %+v", line, p)
	}
}

// TestPolicyPFSGroups: key exchange groups in -e (ESP) or -a (AH) select
// PFS; the policy keeps them in its lists, shows them and is re-created
// from what it shows.
func TestPolicyPFSGroups(t *testing.T) {
	env, _ := newEnv(t)
	mustRun(t, env, "ipsec policy -n F -e AES128-GCM16,CURVE25519,ECP256 -m tunnel -r 10.0.0.9 -s 10.4.0.0/16 -d any")
	mustRun(t, env, "ipsec policy -n G -t AH -a HMAC-SHA-2-256,MODP2048 -m tunnel -r 10.0.0.9 -s 10.5.0.0/16 -d any")
	for name, want := range map[string][]ike.GroupID{"F": {31, 19}, "G": {14}} {
		p := env.Engine.SPD().ByName(name)
		groups, err := ike.PFSGroups(p)
		if err != nil || !slices.Equal(groups, want) {
			t.Errorf("policy %s: PFS groups %v %v, want %v", name, groups, err, want)
		}
		out := mustRun(t, env, "ipsec policy -v -n "+name)
		env2, _ := newEnv(t)
		_, line, _ := strings.Cut(strings.SplitN(out, "\n", 2)[0], ": ")
		mustRun(t, env2, line)
		if q := env2.Engine.SPD().ByName(name); q == nil || !slices.Equal(q.ESPAlgorithms, p.ESPAlgorithms) || !slices.Equal(q.AHAlgorithms, p.AHAlgorithms) {
			t.Errorf("re-created from %q: %+v", line, q)
		}
	}
}
