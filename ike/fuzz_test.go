package ike

import (
	"reflect"
	"strings"
	"testing"
)

// FuzzParseRemote: `ike remote` option lines never panic, and whatever
// parses prints (Args) to a line that parses back to the same remote.
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
		again, err := ParseRemote(r.Args())
		if err != nil {
			t.Fatalf("%q parsed, but its Args %q do not: %v", line, r.Args(), err)
		}
		if !reflect.DeepEqual(r, again) {
			t.Fatalf("round trip of %q:\n%+v\n%+v", line, r, again)
		}
	})
}
