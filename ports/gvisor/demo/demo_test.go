package demo

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/sabre-ipsec/sabre/internal/testutil/tshark"
)

// demoCases cover both modes, both families and several suites.
var demoCases = []struct {
	args []string
	mode string
	algs string // in the IKE SA's summary
	esp  string // in the Child SA's summary
}{
	{[]string{}, "tunnel", "AES128-GCM16/PRF-HMAC-SHA-2-256/CURVE25519", "AES128-GCM16"},
	{[]string{"-mode", "transport", "-v6", "-suite", "aes128cbc-sha256"}, "transport", "AES128-CBC/PRF-HMAC-SHA-2-256/HMAC-SHA-2-256/MODP2048", "AES128-CBC/HMAC-SHA-2-256"},
	{[]string{"-v6", "-suite", "chacha20poly1305"}, "tunnel", "CHACHA20-POLY1305/PRF-HMAC-SHA-2-256/CURVE25519", "CHACHA20-POLY1305"},
	{[]string{"-mode", "transport", "-suite", "aes256gcm16"}, "transport", "AES256-GCM16/PRF-HMAC-SHA-2-384/ECP384", "AES256-GCM16"},
}

// TestDemo runs the demo and checks what it printed: the ike_rc, each
// negotiation step, the echo, the ping, the throughput, both hosts'
// netstat, no drops; and that the capture holds only IKE and ESP.
func TestDemo(t *testing.T) {
	for _, tc := range demoCases {
		t.Run(strings.Join(append([]string{tc.mode}, tc.args...), " "), func(t *testing.T) {
			pcap := filepath.Join(t.TempDir(), "demo.pcap")
			var out bytes.Buffer
			start := time.Now()
			err := Run(append(tc.args, "-t", "20ms", "-pcap", pcap), &out)
			if err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			t.Logf("demo took %v", time.Since(start))
			o := out.String()
			for _, want := range []string{
				"ike remote -n B -z 2 -w -u ", "-m PresharedKey -h ", "ipsec policy -n to-B -g B -t ESP ", " -m " + tc.mode + " ",
				"ike remote -n A ", "ipsec policy -n to-A -g A ",
				`"ike-bypass-500" bypass prio 2`, `"ike-bypass6-4500" bypass prio 2`,
				"A       ACQUIRE: TCP ",
				"came back intact", "3 replies", "TCP throughput A -> B through ESP: ",
				"A> ike netstat", "B> ike netstat", "A> ipsec netstat", "B> ipsec netstat",
				"demo OK",
			} {
				if !strings.Contains(o, want) {
					t.Errorf("output lacks %q", want)
				}
			}
			for _, re := range []string{
				`A -> B  IKE_SA_INIT request  SA KE No N\(NAT_DETECTION_SOURCE_IP\)`,
				`B -> A  IKE_SA_INIT response SA KE No`,
				`A -> B  IKE_AUTH    request  SK\{encrypted\}`,
				`B -> A  IKE_AUTH    response SK\{encrypted\}`,
				`A -> B  ESP SPI 0x[0-9a-f]{8} seq 1`,
				`B -> A  ESP SPI 0x[0-9a-f]{8} seq 1`,
			} {
				if !regexp.MustCompile(re).MatchString(o) {
					t.Errorf("output lacks a step matching %s", re)
				}
			}
			for _, h := range []string{"A", "B"} {
				if n := strings.Count(o, h+"       IKE SA established: "+tc.algs+"; "); n != 1 {
					t.Errorf("%d lines of %s's IKE SA established with %s", n, h, tc.algs)
				}
				if n := strings.Count(o, h+"       Child SA established: ESP "+tc.mode+" mode, SPI in 0x"); n != 1 {
					t.Errorf("%d lines of %s's Child SA established in %s mode", n, h, tc.mode)
				}
				if !strings.Contains(o, "engine of "+h+": ") || !regexp.MustCompile("engine of "+h+": .*drops: none").MatchString(o) {
					t.Errorf("engine of %s dropped packets", h)
				}
			}
			if !strings.Contains(o, ", "+tc.esp+"/ESN") {
				t.Errorf("Child SA summary lacks %s/ESN", tc.esp)
			}
			// Each host's netstat: an established IKE SA with its child,
			// and an IPsec session with an outbound and an inbound SA.
			for _, h := range []string{"A", "B"} {
				ikeNS := section(o, h+"> ike netstat")
				if !strings.Contains(ikeNS, "ESTABLISHED") || !strings.Contains(ikeNS, "child of ") || !strings.Contains(ikeNS, " ESP "+tc.mode+" spi in ") {
					t.Errorf("%s's ike netstat:\n%s", h, ikeNS)
				}
				ipsecNS := section(o, h+"> ipsec netstat")
				if !strings.Contains(ipsecNS, "IPSecSession") || !regexp.MustCompile(`(?m)^  out  ESP `).MatchString(ipsecNS) ||
					!regexp.MustCompile(`(?m)^  in   ESP `).MatchString(ipsecNS) || !strings.Contains(ipsecNS, "secure") {
					t.Errorf("%s's ipsec netstat:\n%s", h, ipsecNS)
				}
			}
			if t.Failed() {
				t.Logf("output:\n%s", o)
			}
			checkPcap(t, pcap)
		})
	}
}

// section returns the output from the line head to the next command's
// output.
func section(out, head string) string {
	i := strings.Index(out, "\n"+head+"\n")
	if i < 0 {
		return ""
	}
	s := out[i+1:]
	if j := regexp.MustCompile(`\n\n(A>|B>|engine )`).FindStringIndex(s); j != nil {
		s = s[:j[0]]
	}
	return s
}

// checkPcap reads the demo's capture: every packet is IKE (UDP 500 or
// 4500) or ESP, and there are both.
func checkPcap(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	if r.LinkType() != layers.LinkTypeRaw {
		t.Errorf("link type %v, want raw", r.LinkType())
	}
	var nIKE, nESP int
	for i := 0; ; i++ {
		data, _, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		first := layers.LayerTypeIPv4
		if data[0]>>4 == 6 {
			first = layers.LayerTypeIPv6
		}
		p := gopacket.NewPacket(data, first, gopacket.Default)
		if p.Layer(layers.LayerTypeIPSecESP) != nil {
			nESP++
			continue
		}
		if u, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP); ok && (u.SrcPort == 500 || u.SrcPort == 4500) {
			nIKE++
			continue
		}
		t.Fatalf("captured packet %d is neither IKE nor ESP: %v", i, p)
	}
	// IKE_SA_INIT, IKE_AUTH, INFORMATIONAL (the Delete at the end).
	if nIKE < 6 || nESP < 10 {
		t.Errorf("captured %d IKE and %d ESP packets, want at least 6 and 10", nIKE, nESP)
	}
}

// TestDemoTshark decrypts the demo's capture with tshark and the keys it
// exported: the echo's payload is in the inner TCP stream, and the
// encrypted IKE messages decrypt too.
func TestDemoTshark(t *testing.T) {
	bin := tshark.Path(t)
	for _, args := range [][]string{
		{},
		{"-mode", "transport", "-v6", "-suite", "aes128cbc-sha256"},
		{"-v6", "-suite", "aes256cbc-sha384"},
	} {
		t.Run(strings.Join(append([]string{"default"}, args...), " "), func(t *testing.T) {
			dir := t.TempDir()
			pcap, keys := filepath.Join(dir, "demo.pcap"), filepath.Join(dir, "demo.keys")
			var out bytes.Buffer
			if err := Run(append(args, "-t", "20ms", "-pcap", pcap, "-keys", keys), &out); err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			if !strings.Contains(out.String(), "keys: "+keys+" (mode 0600: 2 ESP SAs, 1 IKE SAs;") {
				t.Errorf("output does not report the keys file:\n%s", out.String())
			}
			fi, err := os.Stat(keys)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("keys file mode %v, want 0600", fi.Mode().Perm())
			}
			conf := wiresharkConfig(t, keys)
			run := func(extra ...string) string {
				t.Helper()
				return tshark.Run(t, bin, conf, append([]string{"-n", "-r", pcap}, extra...)...)
			}
			payloads := run("-Y", "tcp.payload", "-T", "fields", "-e", "tcp.payload")
			want := hex.EncodeToString([]byte(demoEchoMessage))
			if n := strings.Count(payloads, want); n != 2 {
				t.Errorf("the echo's payload appears %d times in the decrypted TCP stream, want 2 (there and back):\n%s", n, payloads)
			}
			ikeDump := run("-Y", "isakmp", "-O", "isakmp")
			// IKE_AUTH and INFORMATIONAL (the Delete), both ways, and as
			// many more as there were retransmissions.
			if n, all := strings.Count(ikeDump, "Decrypted Data"), len(skPayload.FindAllString(ikeDump, -1)); n < 4 || n != all {
				t.Errorf("%d IKE messages decrypted of %d encrypted, want all and at least 4", n, all)
			}
			if !strings.Contains(ikeDump, "Traffic Selector - Initiator") {
				t.Error("no decrypted traffic selector in IKE_AUTH")
			}
		})
	}
}

// skPayload is how tshark -O isakmp heads an SK payload.
var skPayload = regexp.MustCompile(`(?m)^\s+Payload: Encrypted and Authenticated \(46\)$`)

// wiresharkConfig makes a Wireshark configuration directory from a keys
// file, as the demo's usage says: each "# table NAME" section goes into
// the file NAME, and ESP decryption is on.
func wiresharkConfig(t *testing.T, keys string) string {
	t.Helper()
	b, err := os.ReadFile(keys)
	if err != nil {
		t.Fatal(err)
	}
	tables := map[string]*strings.Builder{}
	var cur *strings.Builder
	for _, l := range strings.Split(string(b), "\n") {
		if name, ok := strings.CutPrefix(l, "# table "); ok {
			cur = &strings.Builder{}
			tables[name] = cur
			continue
		}
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if cur == nil {
			t.Fatalf("keys file: a row before any table: %q", l)
		}
		fmt.Fprintln(cur, l)
	}
	if tables["esp_sa"] == nil || tables["ikev2_decryption_table"] == nil {
		t.Fatalf("keys file lacks a table:\n%s", b)
	}
	files := map[string]string{"preferences": "esp.enable_encryption_decode: TRUE\nesp.enable_authentication_check: TRUE\n"}
	for name, body := range tables {
		files[name] = body.String()
	}
	return tshark.Config(t, files)
}

// TestDemoKeysOnlyWhenAsked: without -keys no key file is written and the
// output shows no key material.
func TestDemoKeysOnlyWhenAsked(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	if err := Run([]string{"-t", "10ms", "-dir", dir}, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		fi, _ := e.Info()
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v; the ike_rc and PSK files are the owner's only", e.Name(), fi.Mode().Perm())
		}
	}
	if strings.Join(names, " ") != "A.ike_rc B.ike_rc psk" {
		t.Errorf("-dir holds %v, want the two ike_rc files and the PSK", names)
	}
	psk, err := os.ReadFile(filepath.Join(dir, "psk"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), strings.TrimSpace(string(psk))[2:]) || strings.Contains(out.String(), "keys:") {
		t.Errorf("the output shows the PSK or keys:\n%s", out.String())
	}
}

// TestDemoFailsClearly: with mismatched pre-shared keys the demo fails
// at once, naming the step that failed.
func TestDemoFailsClearly(t *testing.T) {
	cfg, err := parseDemoFlags([]string{"-t", "10ms"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cfg.wrongPSK = true
	var out bytes.Buffer
	start := time.Now()
	err = runDemoConfig(cfg, &out)
	if err == nil {
		t.Fatalf("demo with mismatched PSKs succeeded:\n%s", out.String())
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("failing took %v", el)
	}
	msg := err.Error()
	if !strings.Contains(msg, "negotiation failed") || !strings.Contains(msg, "pre-shared key") {
		t.Errorf("error %q does not say what failed", msg)
	}
	if !strings.Contains(out.String(), "FAILED: IKE_AUTH refused") {
		t.Errorf("steps do not show the failure:\n%s", out.String())
	}
}

func TestDemoFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-mode", "beet"}, {"-suite", "rot13"}, {"-t", "0s"}, {"extra"},
	} {
		if _, err := parseDemoFlags(args, io.Discard); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
	var help bytes.Buffer
	if err := Run([]string{"-h"}, &help); err != nil {
		t.Fatal(err)
	}
	for _, s := range demoSuites {
		if !strings.Contains(help.String(), s.name) || !strings.Contains(help.String(), "ike remote "+s.ike) || !strings.Contains(help.String(), "ipsec policy "+s.esp) {
			t.Errorf("usage does not document suite %s", s.name)
		}
	}
	for _, want := range []string{"esp_sa", "ikev2_decryption_table", "WIRESHARK_CONFIG_DIR", "-keys FILE", "-pcap FILE"} {
		if !strings.Contains(help.String(), want) {
			t.Errorf("usage lacks %q", want)
		}
	}
}
