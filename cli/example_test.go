package cli

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"github.com/sabre-ipsec/sabre/ipsec"
	"github.com/sabre-ipsec/sabre/xe"
)

// The reference's §5 examples, adapted: the commands are on single lines
// (the reference wraps them only for print), "ce x509" lines are left out
// (certificates belong to IKE), and the IKE negotiation of §5.1 step 3 is
// replaced by `ipsec addsa` with the keys and SPIs the reference shows.

const example51Host1 = `# §5.1 step 1, host1 (10.0.0.77)
ipsec policy -n policy1 -g remoteINFO -t ESP -e 3DES-CBC -a HMAC-SHA-2-384 -m transport -p tcp -r 10.0.0.78 -s 10.0.0.77 -d 10.0.0.78
ike remote -n remoteINFO -z 2 -w -u -a HMAC-SHA-2-384 -e 3DES-CBC -p HMAC-SHA-2-384 -m PresharedKey -d MODP768 -r 10.0.0.78 -f ipv4:10.0.0.78 -g ipv4:10.0.0.77 -h secret_file.txt
`

// host2's, with the reference's wrapping turned into continuations.
const example51Host2 = `# §5.1 step 1, host2 (10.0.0.78)
ipsec policy -n policy1 -g remoteINFO -t ESP -e 3DES-CBC -a HMAC-SHA-2-384 -m transport -p \
tcp -r 10.0.0.77 -s 10.0.0.78 -d 10.0.0.77
ike remote -n remoteINFO -z 2 -w -u -a HMAC-SHA-2-384 -e 3DES-CBC -p HMAC-SHA-2-384 -m \
  PresharedKey -d MODP768 -r 10.0.0.77 -f ipv4:10.0.0.77 -g ipv4:10.0.0.78 -h secret_file.txt
`

// exampleHost returns an Env for a host of the examples with the bypass
// policies the reference's IKE installs at start (§4.4): UDP to its IKE
// port at priority 2, and the test bypass for everything at priority 7.
func exampleHost(t *testing.T, addr string) *Env {
	env, _ := newEnv(t)
	env.ShowKeys = true
	env.LocalAddr = func(netip.Addr) (netip.Addr, error) { return netip.MustParseAddr(addr), nil }
	if _, err := env.Engine.SPD().AddBypassPolicy(addr+",500", "any", 17, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Engine.SPD().AddBypassPolicy("any", "any", 0, 7); err != nil {
		t.Fatal(err)
	}
	return env
}

func TestReferenceExample51(t *testing.T) {
	host1, host2 := exampleHost(t, "10.0.0.77"), exampleHost(t, "10.0.0.78")
	var out1, out2 strings.Builder
	if err := host1.RunRC(writeRC(t, "ike_rc", example51Host1), &out1); err != nil {
		t.Fatal(err)
	}
	if err := host2.RunRC(writeRC(t, "ike_rc", example51Host2), &out2); err != nil {
		t.Fatal(err)
	}
	// The ike remote lines are reported, not silently dropped.
	for i, out := range []string{out1.String(), out2.String()} {
		line := []string{":3:", ":4:"}[i]
		if !strings.Contains(out, line+" ike remote -n remoteINFO: not applied: ike: no IKE daemon in this process") {
			t.Errorf("ike remote not reported:\n%s", out)
		}
	}
	// Step 2: netstat shows the policies (the reference's host2 table).
	golden(t, "example51-step2.golden", mustRun(t, host2, "ipsec netstat"))

	// Step 3: the SAs IKE would negotiate, keyed by hand.
	mustRun(t, host2, refAddSA)
	mustRun(t, host1, "ipsec addsa -n policy1 -e 3DES-CBC -a HMAC-SHA-2-384 -f "+refEncrOut+" -g "+refEncrIn+
		" -b "+refAuthOut+" -c "+refAuthIn+" -w "+refESPOut+" -x "+refESPIn+" -k 3600")

	// A TCP segment each way.
	for _, dir := range []struct {
		from, to *Env
		src, dst string
	}{{host2, host1, "10.0.0.78", "10.0.0.77"}, {host1, host2, "10.0.0.77", "10.0.0.78"}} {
		pkt := ipPacket(t, dir.src, dir.dst, []byte("GET / HTTP/1.0\r\n\r\n"))
		pkt.Bytes()[9] = 6 // tcp
		pkt.Bytes()[10], pkt.Bytes()[11] = 0, 0
		want := bytes.Clone(pkt.Bytes())
		if res, err := dir.from.Engine.Encapsulate(pkt); res != ipsec.SecureTransport || err != nil {
			t.Fatalf("%s -> %s: Encapsulate %v, %v", dir.src, dir.dst, res, err)
		}
		if pkt.Bytes()[9] != 50 {
			t.Errorf("%s -> %s: not ESP on the wire", dir.src, dir.dst)
		}
		if res, err := dir.to.Engine.Decapsulate(pkt); res != ipsec.SecureTransport || err != nil {
			t.Fatalf("%s -> %s: Decapsulate %v, %v", dir.src, dir.dst, res, err)
		}
		if got := pkt.Bytes(); !bytes.Equal(got[20:], want[20:]) {
			t.Errorf("%s -> %s: got %x, want %x", dir.src, dir.dst, got, want)
		}
	}
	golden(t, "example51-step3.golden", mustRun(t, host2, "ipsec netstat -k"))
}

func TestReferenceExample52(t *testing.T) {
	host1 := exampleHost(t, "10.0.0.77")
	const rc = `# §5.2 host1, without its "ce x509" lines
ike remote -n dexter -z 2 -w -u -a HMAC-SHA-2-512 -e AES192-CBC -p HMAC-SHA-2-256 -m RSASIG -d MODP3072 -r 10.0.0.78 -f asnlbn: -g asnlbn: -b supascert.pem -c supamcert.pem,cacert.pem
ipsec policy -n policy0 -g dexter -t ESP -e 3DES-CBC -a HMAC-SHA-2-512 -m tunnel -p icmp -r 10.0.0.78 -s 10.0.0.77 -d 10.0.0.78 -h
`
	// Certificate authentication (RSASIG, -b/-c) is not in this build: the
	// file is refused as a whole, naming the line, and nothing is applied.
	var out strings.Builder
	err := host1.RunRC(writeRC(t, "ike_rc", rc), &out)
	wantErr(t, "RSASIG", err, xe.OK, `ike_rc:2: ike remote: -m RSASIG: certificate authentication is not in this build`)
	if p := host1.Engine.SPD().ByName("policy0"); p != nil {
		t.Fatalf("policy0 applied from a refused file: %v", p)
	}
	// Without the certificate options the policy part loads.
	const pskRC = "ike remote -n dexter -z 2 -w -u -a HMAC-SHA-2-512 -e AES192-CBC -p HMAC-SHA-2-256 -m PSK -h k -d MODP3072 -r 10.0.0.78\n" +
		"ipsec policy -n policy0 -g dexter -t ESP -e 3DES-CBC -a HMAC-SHA-2-512 -m tunnel -p icmp -r 10.0.0.78 -s 10.0.0.77 -d 10.0.0.78 -h\n"
	if err := host1.RunRC(writeRC(t, "ike_rc", pskRC), &out); err != nil {
		t.Fatal(err)
	}
	p := host1.Engine.SPD().ByName("policy0")
	if p == nil || p.TunnelLocal != netip.MustParseAddr("10.0.0.77") || p.RemoteName != "dexter" || p.Proto != 1 {
		t.Fatalf("policy0: %v", p)
	}
	// "ce x509" is not ours: an ike_rc holding it is refused as a whole.
	err = host1.ReloadRC(writeRC(t, "ike_rc", "ce x509 -a cacert.pem -d 1\n"+pskRC), &out)
	wantErr(t, "ce x509", err, xe.OK, `ike_rc:1: unknown command "ce"`)
}

// TestReferencePolicyPage runs the examples of the `ipsec policy` page
// (§3.13) and of §4.1. Those asking for TFC padding (-c) or dummy packets
// (-y) in transport mode are refused: Sabre supports both in tunnel mode
// only; without those options they are accepted.
func TestReferencePolicyPage(t *testing.T) {
	examples := []struct {
		line   string
		refuse string
	}{
		{"ipsec policy -n Policy1 -g mongo -c -h -l 4 -p udp -m transport -t ESP -a HMAC-SHA-1 -e 3DES-CBC -r 10.0.0.76 -s 10.0.0.140 -d 10.0.0.76", "-c: TFC padding"},
		{"ipsec policy -n Policy1 -g mongo -c -h -l 4 -p udp -m transport -t ESP -a HMAC-MD5,HMAC-SHA-1 -e NULL_ENC,3DES-CBC,AES128-CBC -r 10.0.0.76 -s 10.0.0.140 -d 10.0.0.76", "-c: TFC padding"},
		{"policy -n Policy2 -g mongo -t ESP -a HMAC-MD5 -e 3DES-CBC -m transport -p tcp -r 10.0.0.76 -s 10.0.0.140 -d 10.0.0.76", ""},
		{"policy -n Policy1V6 -g mongoV6 -t ESP -a HMAC-MD5 -e 3DES-CBC -m transport -p udp -r fe80::0240:f4ff:feed:8b77 -s fe80::862b:2bff:fe88:2662 -d fe80::0240:f4ff:feed:8b77", ""},
		{"policy -n Policy2V6 -g mongoV6 -t ESP -a HMAC-SHA-1 -e AES128-CBC -m transport -p tcp -r fe80::0240:f4ff:feed:8b77 -s fe80::862b:2bff:fe88:2662 -d fe80::0240:f4ff:feed:8b77", ""},
		{"ipsec policy -n Policy3 -g mongo -y -l 4 -p udp -m transport -t ESP -a HMAC-MD5 -e NULL_ENC -r 10.0.0.76 -s 10.0.0.140 -d 10.0.0.76", "-y: dummy packets need ESP in tunnel mode"},
	}
	for _, ex := range examples {
		env, _ := newEnv(t)
		_, err := run(t, env, ex.line)
		if ex.refuse != "" {
			wantErr(t, ex.line, err, xe.BadParam, ex.refuse)
			fixed := strings.NewReplacer(" -c ", " ", " -y ", " ").Replace(ex.line)
			mustRun(t, env, fixed)
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", ex.line, err)
		}
	}
}
