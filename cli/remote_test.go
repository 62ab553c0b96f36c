package cli

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sabre-ipsec/sabre/ike"
	"github.com/sabre-ipsec/sabre/ike/message"
	"github.com/sabre-ipsec/sabre/suite"
)

// FuzzParseRemote: `ike remote` option lines never panic, and whatever
// parses prints (RemoteArgs) to a line that parses back to the same remote.
func FuzzParseRemote(f *testing.F) {
	for _, s := range []string{
		"-n mongo -z 2 -w -u -a HMAC-MD5 -e 3DES-CBC -d MODP2048,MODP1024 -p HMAC-MD5 -m PSK -h secret -r 10.0.0.76 -f ipv4:10.0.0.76 -g ipv4:10.0.0.140",
		"-n ss -z 2 -w -u -e AES256-GCM16,CHACHA20-POLY1305 -p PRFSHA384 -d ECP384,CURVE25519 -m PresharedKey -h k -r 192.0.2.2,4500 -f fqdn:gw.example -g email:me@example -i 250ms -l 3600",
		"-n v6 -u -e AES128-CBC -a HMAC-SHA-2-256 -p HMAC-SHA-2-256 -d MODP2048 -m PSK -h s -f ipv6:fe80::1 -g keyid:0a0b",
		"-n x -w -e",
		"-n t -w -e AES128-GCM16 -p PRFSHA256 -d CURVE25519 -m PSK -r 192.0.2.1 -i 4 -t 5 -I 1m",
		"-n t -u -e AES128-GCM16 -p PRFSHA256 -d CURVE25519 -m PSK -i 90",
		"-n 00 -u -e AESGCM -p SHA -d CURVE25519 -m PreshAredKeY", // AES without a key size, found by this target
		"-n d -w -e AES128-GCM16 -p PRFSHA256 -d CURVE25519 -m PSK -r 192.0.2.1 -D 10 -T 5s -A restart -S start",
		"-n d -u -e AES128-GCM16 -p PRFSHA256 -d CURVE25519 -m PSK -D off -A clear -S none",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		r, err := ParseRemote(strings.Fields(line))
		if err != nil {
			return
		}
		again, err := ParseRemote(RemoteArgs(&r))
		if err != nil {
			t.Fatalf("%q parsed, but its Args %q do not: %v", line, RemoteArgs(&r), err)
		}
		if !reflect.DeepEqual(r, again) {
			t.Fatalf("round trip of %q:\n%+v\n%+v", line, r, again)
		}
	})
}

func TestParseRemoteReferenceExamples(t *testing.T) {
	for _, line := range []string{
		// §4.8, first example (MODP1024 is accepted by name; policy decides use).
		"-n mongo -z 2 -w -u -a HMAC-MD5 -e 3DES-CBC -d MODP2048,MODP1024 -p HMAC-MD5 -m PSK -h secret -r 10.0.0.76 -f ipv4:10.0.0.76 -g ipv4:10.0.0.140",
		// §5.1 host1.
		"-n remoteINFO -z 2 -w -u -a HMAC-SHA-2-384 -e 3DES-CBC -p HMAC-SHA-2-384 -m PresharedKey -d MODP768 -r 10.0.0.78 -f ipv4:10.0.0.78 -g ipv4:10.0.0.77 -h secret_file.txt",
		// IPv6.
		"-n mongoV6 -z 2 -w -u -a HMAC-MD5 -e 3DES -d MODP2048,MODP1024 -p MD5 -m PSK -h secret -r fe80::0240:f4ff:feed:8b77 -f ipv6:fe80::0240:f4ff:feed:8b77 -g ipv6:fe80::862b:2bff:fe88:2662",
		// Modern names.
		"-n ss -z 2 -w -u -e AES256-GCM16,CHACHA20-POLY1305 -p PRFSHA384 -d ECP384,CURVE25519 -m PresharedKey -h k -r 192.0.2.2,4500 -f fqdn:gw.example -g email:me@example -i 250ms -l 3600",
	} {
		r, err := ParseRemote(strings.Fields(line))
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		again, err := ParseRemote(RemoteArgs(&r))
		if err != nil {
			t.Fatalf("%s: re-parse of %q: %v", line, RemoteArgs(&r), err)
		}
		if !reflect.DeepEqual(r, again) {
			t.Fatalf("round trip:\n%+v\n%+v", r, again)
		}
	}
	r, _ := ParseRemote(strings.Fields("-n ss -w -e AES256-GCM16 -p PRFSHA384 -d ECP384,CURVE25519 -m PSK -r 192.0.2.2"))
	if r.Encr[0] != (ike.EncrAlg{ID: suite.EncrAESGCM16, KeyBits: 256}) || r.PRF[0] != message.PRFHMACSHA2384 || r.Groups[1] != message.Curve25519 {
		t.Fatalf("parsed %+v", r)
	}
}

func TestParseRemoteErrors(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{"-z 2 -w -e AES128-CBC -a HMAC-SHA-1 -p HMAC-SHA-1 -d MODP2048 -m PSK -r 1.2.3.4", "-n <name>"},
		{"-n x -z 1 -w", "only IKE version 2"},
		{"-n x -w -e AES999 -p sha1 -d modp2048 -m PSK -r 1.2.3.4", "AES999"},
		{"-n x -w -e AES128-CBC -p sha1 -d modp2048 -m PSK -r 1.2.3.4", "needs -a"},
		{"-n x -w -e AES128-GCM16 -p sha1 -d modp9999 -m PSK -r 1.2.3.4", "modp9999"},
		{"-n x -w -e AES128-GCM16 -p sha1 -d modp2048 -m PSK", "needs -r"},
		{"-n x -w -e AES128-GCM16 -p sha1 -d modp2048 -m RSASIG -r 1.2.3.4", "not in this build"},
		{"-n x -w -e NULL_ENC -p sha1 -d modp2048 -m PSK -r 1.2.3.4", "must be encrypted"},
		{"-n x -w -e AES128-GCM16 -p sha1 -d modp2048 -m PSK -r 1.2.3.4 -f ipv4:fe80::1", "family"},
		{"-n x -w -e AES128-GCM16 -p sha1 -d modp2048 -m PSK -r 1.2.3.4 -q 1", `unknown option "-q"`},
		{"-n x -w -e", `option "-e" needs a value`},
		{"-n x -u -e AESGCM -p sha1 -d modp2048 -m PSK", "give the key size"},
	} {
		_, err := ParseRemote(strings.Fields(tc.line))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.line, err, tc.want)
		}
	}
}

// TestParseRemoteRanges: every duration is range-checked before it is
// converted (1e10 s overflows a Duration into a negative one), and an
// option given twice is refused, as the manual says.
func TestParseRemoteRanges(t *testing.T) {
	const base = "-n x -u -e AES128-GCM16 -p PRFSHA256 -d ECP256 -m PSK -h f "
	for _, tc := range []struct{ args, want string }{
		{"-l 1e10", `-l "1e10"`},
		{"-l 9999999999999", `-l "9999999999999"`},
		{"-l NaN", `-l "NaN"`},
		{"-l -5s", `-l "-5s"`},
		{"-i 1e-12", `-i "1e-12"`},
		{"-i 0", `-i "0"`},
		{"-l 300000h", `-l "300000h"`},
		{"-l 8h -l 9h", `"-l" given twice`},
		{"-w -r 192.0.2.1 -w", `"-w" given twice`},
		{"-n y", `"-n" given twice`},
	} {
		_, err := ParseRemote(strings.Fields(base + tc.args))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.args, err, tc.want)
		}
	}
	r, err := ParseRemote(strings.Fields(base + "-l 8760h -i 0.25"))
	if err != nil || r.Lifetime != maxRemoteDuration || r.Retransmit.Milliseconds() != 250 {
		t.Fatalf("in range: %v %v %v", r.Lifetime, r.Retransmit, err)
	}
}

func TestRetransmitOptionErrors(t *testing.T) {
	base := "-n x -w -e AES128-GCM16 -p sha256 -d x25519 -m PSK -r 192.0.2.1 "
	for _, tc := range []struct{ opts, want string }{
		{"-t 0", "from 1 to 100"},
		{"-t 101", "from 1 to 100"},
		{"-t many", "from 1 to 100"},
		{"-I 0", "want 1ms"},
		{"-I 2h", "longer than 1h0m0s"},
		{"-i 2h", "longer than 1h0m0s"},
		{"-i 1e10", "longer than 1h0m0s"},
		{"-I 1e300", "longer than 1h0m0s"},
		{"-i 2 -I 1", "-I 1s is shorter than the first interval -i 2s"},
	} {
		_, err := ParseRemote(strings.Fields(base + tc.opts))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.opts, err, tc.want)
		}
	}
}

// TestParseRemoteOptionErrors: the option words themselves are checked by
// getopt, for every option of the table, before any value is read.
func TestParseRemoteOptionErrors(t *testing.T) {
	const base = "-n x -u -e AES128-GCM16 -p PRFSHA256 -d ECP256 -m PSK "
	for _, tc := range []struct{ args, want string }{
		{"-q 1", `ike remote: unknown option "-q"`},
		{"-uw", `ike remote: unknown option "-uw"`},
		{"stray", `ike remote: unexpected argument "stray"`},
		{"-t", `ike remote: option "-t" needs a value`},
		{"-h -w", `ike remote: option "-h" needs a value, not the option "-w"`},
		{"-b peer.pem", `ike remote: -b "peer.pem": X.509 certificates are not in this build`},
		{"-c me.pem", `ike remote: -c "me.pem": X.509 certificates are not in this build`},
	} {
		_, err := ParseRemote(strings.Fields(base + tc.args))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.args, err, tc.want)
		}
	}
	for _, opt := range remoteOptions {
		if _, err := ParseRemote(strings.Fields(base + "-" + string(opt.letter) + " -" + string(opt.letter))); err == nil {
			t.Errorf("-%c given twice accepted", opt.letter)
		}
	}
}

// TestForceEncapOption: -U parses and prints back.
func TestForceEncapOption(t *testing.T) {
	r, err := ParseRemote([]string{"-n", "gw", "-z", "2", "-w", "-U", "-e", "AES128-GCM16", "-p", "PRFSHA256", "-d", "CURVE25519",
		"-m", "PresharedKey", "-h", "/etc/sabre/psk", "-r", "192.0.2.2"})
	if err != nil {
		t.Fatal(err)
	}
	if !r.ForceEncap {
		t.Fatal("-U not parsed")
	}
	again, err := ParseRemote(RemoteArgs(&r))
	if err != nil || !again.ForceEncap {
		t.Errorf("-U not printed back: %q: %v", RemoteArgs(&r), err)
	}
}

// TestRemoteLivenessOptions: -D, -T, -A and -S (ike/dpd.go) parse, print
// back, and their bad values and combinations are refused by name.
func TestRemoteLivenessOptions(t *testing.T) {
	const base = "-n r -w -e AES128-GCM16 -p PRFSHA256 -d CURVE25519 -m PSK -r 192.0.2.1 "
	r, err := ParseRemote(strings.Fields(base + "-D 10 -T 2500ms -A clear -S start"))
	if err != nil || r.DPDDelay != 10*time.Second || r.DPDTimeout != 2500*time.Millisecond || r.DPDAction != ike.DPDClear || r.StartAction != ike.StartStart {
		t.Fatalf("%+v %v", r, err)
	}
	if again, err := ParseRemote(RemoteArgs(&r)); err != nil || !reflect.DeepEqual(r, again) {
		t.Errorf("round trip of %q: %+v %v", RemoteArgs(&r), again, err)
	}
	for _, off := range []string{"off", "0"} {
		r, err := ParseRemote(strings.Fields(base + "-D " + off))
		if err != nil || !r.DPDOff || r.DPDAction != ike.DPDTrap || r.StartAction != ike.StartTrap {
			t.Fatalf("-D %s: %+v %v", off, r, err)
		}
		a := RemoteArgs(&r)
		if i := slices.Index(a, "-D"); i < 0 || i+1 == len(a) || a[i+1] != "off" || slices.Contains(a, "-A") || slices.Contains(a, "-S") {
			t.Errorf("-D %s prints as %q", off, a)
		}
	}
	for _, tc := range []struct{ args, want string }{
		{base + "-A sometimes", `-A "sometimes": want clear, restart or trap`},
		{base + "-S later", `-S "later": want start, trap or none`},
		{base + "-D never", `-D "never"`},
		{base + "-T 0", `-T "0"`},
		{"-n r -u -e AES128-GCM16 -p PRFSHA256 -d CURVE25519 -m PSK -S start", "-S start needs -w"},
		{"-n r -u -e AES128-GCM16 -p PRFSHA256 -d CURVE25519 -m PSK -A restart", "-A restart needs -w"},
	} {
		if _, err := ParseRemote(strings.Fields(tc.args)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.args, err, tc.want)
		}
	}
}
