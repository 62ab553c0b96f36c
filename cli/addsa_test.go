package cli

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/sabre-ipsec/sabre/ipsec"
	"github.com/sabre-ipsec/sabre/pktbuf"
	"github.com/sabre-ipsec/sabre/sad"
	"github.com/sabre-ipsec/sabre/spd"
	"github.com/sabre-ipsec/sabre/xe"
)

// hexKey returns a deterministic hex key of n octets.
func hexKey(n int, seed byte) string {
	k := make([]byte, n)
	for i := range k {
		k[i] = seed ^ byte(i*31+7)
	}
	return fmt.Sprintf("%x", k)
}

func TestParseKey(t *testing.T) {
	tests := []struct {
		in      string
		want    []byte
		wantErr string
	}{
		{"00ff10", []byte{0, 0xff, 0x10}, ""},
		{"0x00FF10", []byte{0, 0xff, 0x10}, ""},
		{"0X0a", []byte{0x0a}, ""},
		{"00:ff:10", []byte{0, 0xff, 0x10}, ""},
		{"0x00ff:1020", []byte{0, 0xff, 0x10, 0x20}, ""},
		{"", nil, "-f: empty key"},
		{"0x", nil, "-f: empty key"},
		{"0xzz", nil, "-f: the key is not hex (character 3)"},
		{"00g0", nil, "-f: the key is not hex (character 3)"},
		{"abc", nil, "odd number of hex digits (3)"},
		{":00", nil, "misplaced ':'"},
		{"00:", nil, "misplaced ':'"},
		{"00::11", nil, "misplaced ':'"},
	}
	for _, tc := range tests {
		got, err := parseKey("ipsec addsa", "-f", tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("parseKey(%q) error %v, want %q", tc.in, err, tc.wantErr)
			}
			if err != nil && tc.in != "" && len(tc.in) > 2 && strings.Contains(err.Error(), tc.in) {
				t.Errorf("parseKey(%q): the error echoes the key: %v", tc.in, err)
			}
			continue
		}
		if err != nil || !bytes.Equal(got, tc.want) {
			t.Errorf("parseKey(%q) = %x, %v; want %x", tc.in, got, err, tc.want)
		}
	}
}

// ipPacket builds an IPv4 or IPv6 UDP packet in a buffer with the default
// head- and tailroom.
func ipPacket(t testing.TB, src, dst string, payload []byte) *pktbuf.Buffer {
	t.Helper()
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	udp := make([]byte, 8+len(payload))
	binary.BigEndian.PutUint16(udp[0:], 1234)
	binary.BigEndian.PutUint16(udp[2:], 5678)
	binary.BigEndian.PutUint16(udp[4:], uint16(len(udp)))
	copy(udp[8:], payload)
	var pkt []byte
	if s.Is4() {
		h := make([]byte, 20)
		h[0], h[8], h[9] = 0x45, 64, 17
		binary.BigEndian.PutUint16(h[2:], uint16(20+len(udp)))
		copy(h[12:], s.AsSlice())
		copy(h[16:], d.AsSlice())
		binary.BigEndian.PutUint16(h[10:], ^checksum(h, 0))
		pkt = append(h, udp...)
	} else {
		h := make([]byte, 40)
		h[0], h[6], h[7] = 0x60, 17, 64
		binary.BigEndian.PutUint16(h[4:], uint16(len(udp)))
		copy(h[8:], s.AsSlice())
		copy(h[24:], d.AsSlice())
		pseudo := slices.Concat(s.AsSlice(), d.AsSlice(), []byte{0, 0, byte(len(udp) >> 8), byte(len(udp)), 0, 0, 0, 17})
		binary.BigEndian.PutUint16(udp[6:], ^checksum(udp, checksum(pseudo, 0)))
		pkt = append(h, udp...)
	}
	b := pktbuf.New(pktbuf.DefaultHeadroom, len(pkt), pktbuf.DefaultTailroom)
	copy(b.Bytes(), pkt)
	return b
}

func checksum(b []byte, sum uint16) uint16 {
	s := uint32(sum)
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

// TestAddSARoundTrip configures two hosts with mirrored `ipsec addsa`
// commands and sends a packet from one to the other through the engines.
func TestAddSARoundTrip(t *testing.T) {
	tests := []struct {
		name       string
		a, b       string // the command for host a, and for host b (mirrored)
		src, dst   string // inner packet from a to b
		outerProto byte   // IP protocol of the packet on the wire
		mode       ipsec.Result
	}{
		{"transport ESP AES-CBC HMAC-SHA-256",
			"-s 10.0.0.77 -d 10.0.0.78 -p udp -m transport -e AES128-CBC -a HMAC-SHA-2-256 -f KE2 -g KE1 -b KI2 -c KI1 -w 0x2000 -x 0x1000",
			"-s 10.0.0.78 -d 10.0.0.77 -p udp -m transport -e AES128-CBC -a HMAC-SHA-2-256 -f KE1 -g KE2 -b KI1 -c KI2 -w 0x1000 -x 0x2000",
			"10.0.0.77", "10.0.0.78", 50, ipsec.SecureTransport},
		{"transport ESP 3DES HMAC-SHA-2-384 ESN, IPv6",
			"-s 2001:db8::77 -d 2001:db8::78 -m transport -e 3DES-CBC -a HMAC-SHA-2-384 -f KE2 -g KE1 -b KI2 -c KI1 -w 4096 -x 8192 -N",
			"-s 2001:db8::78 -d 2001:db8::77 -m transport -e 3DES-CBC -a HMAC-SHA-2-384 -f KE1 -g KE2 -b KI1 -c KI2 -w 8192 -x 4096 -N",
			"2001:db8::77", "2001:db8::78", 50, ipsec.SecureTransport},
		{"tunnel ESP AES-GCM NAT-T",
			"-s 10.1.0.0/16 -d 10.2.0.0/16 -m tunnel -r 192.0.2.2 -L 192.0.2.1 -e AES256-GCM16 -f KE2 -g KE1 -w 0x2000 -x 0x1000 -u 4500",
			"-s 10.2.0.0/16 -d 10.1.0.0/16 -m tunnel -r 192.0.2.1 -L 192.0.2.2 -e AES256-GCM16 -f KE1 -g KE2 -w 0x1000 -x 0x2000 -u 4500:4500",
			"10.1.0.5", "10.2.0.5", 17, ipsec.SecureTunnel},
		{"transport AH HMAC-SHA-1",
			"-s 10.0.0.77 -d 10.0.0.78 -m transport -a HMAC-SHA-1 -b KI2 -c KI1 -y 0x2000 -z 0x1000",
			"-s 10.0.0.78 -d 10.0.0.77 -m transport -a HMAC-SHA-1 -b KI1 -c KI2 -y 0x1000 -z 0x2000",
			"10.0.0.77", "10.0.0.78", 51, ipsec.SecureTransport},
		{"tunnel AH+ESP",
			"-s 10.1.0.0/16 -d 10.2.0.0/16 -m tunnel -r 192.0.2.2 -e chacha20poly1305 -a aes-xcbc -f KE2 -g KE1 -b KI2 -c KI1 -w 0x2000 -x 0x1000 -y 0x2000 -z 0x1000",
			"-s 10.2.0.0/16 -d 10.1.0.0/16 -m tunnel -r 192.0.2.1 -L 192.0.2.2 -e chacha20poly1305 -a aes-xcbc -f KE1 -g KE2 -b KI1 -c KI2 -w 0x1000 -x 0x2000 -y 0x1000 -z 0x2000",
			"10.1.0.5", "10.2.0.5", 51, ipsec.SecureTunnel},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			keys := strings.NewReplacer("KE1", hexKey(36, 1)[:keyDigits(tc.a, "-e")], "KE2", hexKey(36, 2)[:keyDigits(tc.a, "-e")],
				"KI1", hexKey(48, 3)[:keyDigits(tc.a, "-a")], "KI2", hexKey(48, 4)[:keyDigits(tc.a, "-a")])
			a, _ := newEnv(t)
			b, _ := newEnv(t)
			a.LocalAddr = func(netip.Addr) (netip.Addr, error) { return netip.MustParseAddr("192.0.2.1"), nil }
			mustRun(t, a, "ipsec addsa "+keys.Replace(tc.a))
			mustRun(t, b, "ipsec addsa "+keys.Replace(tc.b))

			payload := []byte("hello through ipsec addsa")
			pkt := ipPacket(t, tc.src, tc.dst, payload)
			want := slices.Clone(pkt.Bytes())
			res, err := a.Engine.Encapsulate(pkt)
			if err != nil || res != tc.mode {
				t.Fatalf("Encapsulate: %v, %v", res, err)
			}
			if p := outerProto(pkt.Bytes()); p != tc.outerProto {
				t.Errorf("outer protocol %d, want %d", p, tc.outerProto)
			}
			res, err = b.Engine.Decapsulate(pkt)
			if err != nil || res != tc.mode {
				t.Fatalf("Decapsulate: %v, %v", res, err)
			}
			got := pkt.Bytes()
			if !bytes.Contains(got, payload) || len(got) != len(want) {
				t.Errorf("decapsulated %x\nwant %x", got, want)
			}
			out := mustRun(t, b, "ipsec netstat -c -j")
			if !strings.Contains(out, `"direction": "inbound"`) || !strings.Contains(out, `"packets": 1,`) {
				t.Errorf("netstat does not count the packet:\n%s", out)
			}
		})
	}
}

// keyDigits returns the hex digits of the key the algorithm of option opt
// in the addsa arguments args takes.
func keyDigits(args, opt string) int {
	w := strings.Fields(args)
	i := slices.Index(w, opt)
	if i < 0 {
		return 0
	}
	var n int
	if opt == "-e" {
		alg, err := parseEncr("", "", w[i+1])
		if err != nil {
			panic(err)
		}
		n = alg.keyLen
	} else {
		alg, err := parseInteg("", "", w[i+1])
		if err != nil {
			panic(err)
		}
		n = alg.keyLen
	}
	return 2 * n
}

func outerProto(pkt []byte) byte {
	if pkt[0]>>4 == 4 {
		return pkt[9]
	}
	return pkt[6]
}

func TestAddSA(t *testing.T) {
	env, _ := newEnv(t)
	env.ShowKeys = true
	k16, k20, k24 := hexKey(16, 1), hexKey(20, 2), hexKey(24, 3)
	// A policy addsa creates.
	out := mustRun(t, env, "ipsec addsa -s 10.0.0.77 -d 10.0.0.78 -p tcp -m transport -e 3DES-CBC -a HMAC-SHA-1 -f "+k24+" -g "+k24+
		" -b "+k20+" -c "+k20+" -w 0x1001 -x 0x1002 -k 600 -R 256")
	if out != "2 SAs added with new policy 1\n" {
		t.Errorf("output %q", out)
	}
	p := env.Engine.SPD().Get(1)
	if p.Flags != spd.FlagProtoESP|spd.FlagKeynegManual|spd.FlagCheckReplay || p.ReplayWindow != 256 || p.Name != "" ||
		!slices.Equal(p.ESPAlgorithms, []string{"3DES-CBC"}) || !slices.Equal(p.AHAlgorithms, []string{"HMAC-SHA-1"}) {
		t.Errorf("created policy %v window %d algs %v %v", p, p.ReplayWindow, p.ESPAlgorithms, p.AHAlgorithms)
	}
	s := env.Engine.SAD().Session(1)
	if len(s.SAs()) != 2 || s.OutboundESP().SPI() != 0x1002 || s.Inbound()[0].SPI() != 0x1001 ||
		s.Inbound()[0].Replay().Size() != 256 || s.OutboundESP().HardLifetime().Time.Seconds() != 600 ||
		s.OutboundESP().Local() != netip.MustParseAddr("10.0.0.77") || s.OutboundESP().Remote() != netip.MustParseAddr("10.0.0.78") {
		t.Errorf("SAs %v", s.SAs())
	}
	// Keys are kept for netstat -k, and forgotten with their SA.
	if len(env.state().keys) != 2 {
		t.Errorf("%d SAs' keys kept, want 2", len(env.state().keys))
	}

	// An existing policy, found by selectors; and the same by name.
	mustRun(t, env, "ipsec policy -n M -o -e AES128-GCM16 -m tunnel -r 192.0.2.9 -L 192.0.2.1 -s 10.1.0.0/16 -d 10.2.0.0/16")
	out = mustRun(t, env, "ipsec addsa -s 10.1.0.0/16 -d 10.2.0.0/16 -e AES128-GCM16 -f "+k20+" -g "+k20+" -w 0x2001 -x 0x2002")
	if out != "2 SAs added to policy 2 (M)\n" {
		t.Errorf("output %q", out)
	}
	mustRun(t, env, "ipsec addsa -n M -m tunnel -r 192.0.2.9 -e AES128-GCM16 -f "+k20+" -g "+k20+" -w 0x2003 -x 0x2004")
	if s := env.Engine.SAD().Session(2); len(s.SAs()) != 4 || s.OutboundESP().SPI() != 0x2004 || s.PreviousESP().SPI() != 0x2002 {
		t.Errorf("session of M: %v", s.SAs())
	}
	// A named policy addsa creates.
	mustRun(t, env, "ipsec addsa -n N -s 10.3.0.0/16 -d any -m tunnel -r 192.0.2.8 -e aes128gcm16 -f "+k20+" -g "+k20+" -w 0x3001 -x 0x3002 -l 6")
	if p := env.Engine.SPD().ByName("N"); p == nil || p.Priority != 6 || p.TunnelLocal != netip.MustParseAddr("10.0.0.77") {
		t.Errorf("policy N: %v", p)
	}
	_ = k16

	// delsa deletes the SAs, and the policy if addsa created it.
	if out := mustRun(t, env, "ipsec delsa -s 10.0.0.77 -d 10.0.0.78 -p tcp"); out != "deleted 2 SAs and the policy addsa created\n" {
		t.Errorf("delsa: %q", out)
	}
	if env.Engine.SPD().Get(1) != nil || len(env.state().keys) != 6 {
		t.Errorf("after delsa: policy %v, %d keys kept", env.Engine.SPD().Get(1), len(env.state().keys))
	}
	if out := mustRun(t, env, "ipsec delsa -n M"); out != "deleted 4 SAs\n" {
		t.Errorf("delsa -n M: %q", out)
	}
	if env.Engine.SPD().ByName("M") == nil {
		t.Errorf("delsa deleted policy M, which addsa did not create")
	}
	_, err := run(t, env, "ipsec delsa -n M")
	wantErr(t, "delsa again", err, xe.SANotFound, "ipsec delsa: policy -n M has no SAs")
	_, err = run(t, env, "ipsec delsa -s 10.0.0.77 -d 10.0.0.78 -p tcp")
	wantErr(t, "delsa of a deleted policy", err, xe.PolicyNotFound, "no secure policy -s 10.0.0.77 -d 10.0.0.78 -p tcp")
	mustRun(t, env, "ipsec delsa -n N")
	if env.Engine.SPD().ByName("N") != nil || env.Engine.SAD().Len() != 0 || len(env.state().keys) != 0 {
		t.Errorf("left: %v, %d SAs, %d keys", env.Engine.SPD().List(), env.Engine.SAD().Len(), len(env.state().keys))
	}
}

func TestAddSAErrors(t *testing.T) {
	k20, k24, k32 := hexKey(20, 2), hexKey(24, 3), hexKey(32, 4)
	esp := " -e 3DES-CBC -f " + k24 + " -g " + k24 + " -a HMAC-SHA-1 -b " + k20 + " -c " + k20 + " -w 0x1001 -x 0x1002"
	sel := " -s 10.0.0.77 -d 10.0.0.78 -m transport"
	tests := []struct {
		line string
		code xe.Code
		want []string
	}{
		{"ipsec addsa -q 1" + esp, xe.OK, []string{`unknown option "-q"`}},
		{"ipsec addsa" + esp, xe.BadIDType, []string{"-s source selector is required (or -n policy name)"}},
		{"ipsec addsa -s 10.0.0.77" + esp, xe.BadIDType, []string{"-d destination selector is required"}},
		{"ipsec addsa -s 10.0.0.77 -d fe80::1" + esp, xe.BadAddrRange, []string{"different address families"}},
		{"ipsec addsa -s 10.0.0.77 -d 10.0.0.78/40" + esp, xe.BadAddrRange, []string{`-d "10.0.0.78/40"`}},
		{"ipsec addsa -p bogus" + sel + esp, xe.UnknownIPProtocol, []string{`-p "bogus"`}},
		{"ipsec addsa -p icmp6" + sel + esp, xe.UnknownIPProtocol, []string{`-p "icmp6" with IPv4 selectors`}},
		{"ipsec addsa -l 9" + sel + esp, xe.BadParam, []string{`-l "9"`}},
		{"ipsec addsa -m sideways -s 10.0.0.77 -d 10.0.0.78" + esp, xe.BadParam, []string{`-m "sideways"`}},
		{"ipsec addsa -r 10.0.0.x" + sel + esp, xe.BadParam, []string{`-r "10.0.0.x"`}},
		{"ipsec addsa -L nowhere" + sel + esp, xe.BadParam, []string{`-L "nowhere"`}},
		{"ipsec addsa -r 10.0.0.9 -L fe80::1" + sel + esp, xe.BadAddrRange, []string{"-L fe80::1 and -r 10.0.0.9"}},
		{"ipsec addsa" + sel + " -e 3DES-CBC -f " + k24 + " -g " + k24 + " -a sha1 -b " + k20 + " -c " + k20, xe.BadParam, []string{"give the ESP SPIs (-w in, -x out) and/or the AH SPIs"}},
		{"ipsec addsa" + sel + " -e 3DES-CBC -f " + k24 + " -g " + k24 + " -a sha1 -b " + k20 + " -c " + k20 + " -w 0x1001", xe.BadParam, []string{"-w given without -x"}},
		{"ipsec addsa" + sel + " -a sha1 -b " + k20 + " -c " + k20 + " -z 0x1001", xe.BadParam, []string{"-z given without -y"}},
		{"ipsec addsa" + sel + strings.Replace(esp, "-w 0x1001", "-w 255", 1), xe.BadParam, []string{`-w "255": SPIs 0..255 are reserved`}},
		{"ipsec addsa" + sel + strings.Replace(esp, "-x 0x1002", "-x 0x1ffffffff", 1), xe.BadParam, []string{`-x "0x1ffffffff": an SPI is a 32-bit number`}},
		{"ipsec addsa" + sel + strings.Replace(esp, "-x 0x1002", "-x d17c6fc7", 1), xe.BadParam, []string{`-x "d17c6fc7"`}},
		{"ipsec addsa" + sel + strings.Replace(esp, "3DES-CBC", "3DES-CBX", 1), xe.UnknownAlgorithm, []string{`-e "3DES-CBX": unknown encryption algorithm`}},
		{"ipsec addsa" + sel + strings.Replace(esp, "3DES-CBC", "AES-GCM16", 1), xe.UnknownAlgorithm, []string{`-e "AES-GCM16": give the AES key size`}},
		{"ipsec addsa" + sel + strings.Replace(esp, "HMAC-SHA-1", "HMAC-SHA-7", 1), xe.UnknownAlgorithm, []string{`-a "HMAC-SHA-7": unknown authentication algorithm`}},
		{"ipsec addsa" + sel + " -f " + k24 + " -g " + k24 + " -a sha1 -b " + k20 + " -c " + k20 + " -w 0x1001 -x 0x1002", xe.UnknownAlgorithm, []string{"-e encryption algorithm is required for ESP"}},
		{"ipsec addsa" + sel + " -e 3des -f " + k24 + " -g " + k24 + " -w 0x1001 -x 0x1002", xe.UnknownAlgorithm, []string{`-e "3des" needs an authentication algorithm: give -a`}},
		{"ipsec addsa" + sel + " -e aes128gcm16 -f " + k20 + " -g " + k20 + " -a sha1 -b " + k20 + " -c " + k20 + " -w 0x1001 -x 0x1002", xe.BadParam, []string{`-a "sha1": combined-mode aes128gcm16 takes no authentication algorithm`}},
		{"ipsec addsa" + sel + " -a sha1 -b " + k20 + " -c " + k20 + " -e 3des -y 0x1001 -z 0x1002", xe.BadParam, []string{`-e "3des": AH does not encrypt`}},
		{"ipsec addsa" + sel + " -b " + k20 + " -c " + k20 + " -y 0x1001 -z 0x1002", xe.UnknownAlgorithm, []string{"-a authentication algorithm is required for AH"}},
		{"ipsec addsa" + sel + strings.Replace(esp, " -g "+k24, "", 1), xe.BadParam, []string{"-g key is required for 3DES-CBC"}},
		{"ipsec addsa" + sel + strings.Replace(esp, " -b "+k20, "", 1), xe.BadParam, []string{"-b key is required for HMAC-SHA-1"}},
		{"ipsec addsa" + sel + strings.Replace(esp, "-f "+k24, "-f "+k32, 1), xe.BadParam, []string{"-f: a 32-octet key; 3DES-CBC takes 24"}},
		{"ipsec addsa" + sel + " -e aes128gcm16 -f " + hexKey(16, 1) + " -g " + k20 + " -w 0x1001 -x 0x1002", xe.BadParam, []string{"-f: a 16-octet key; aes128gcm16 takes 20 (16-octet key, then 4-octet salt)"}},
		{"ipsec addsa" + sel + strings.Replace(esp, "-c "+k20, "-c "+k24, 1), xe.BadParam, []string{"-c: a 24-octet key; HMAC-SHA-1 takes 20"}},
		{"ipsec addsa" + sel + strings.Replace(esp, "-c "+k20, "-c 0x12zz", 1), xe.BadParam, []string{"-c: the key is not hex (character 5)"}},
		{"ipsec addsa" + sel + " -e null -f 00 -a sha1 -b " + k20 + " -c " + k20 + " -w 0x1001 -x 0x1002", xe.BadParam, []string{"-f: null takes no key"}},
		{"ipsec addsa" + sel + " -a sha1 -f 00 -b " + k20 + " -c " + k20 + " -y 0x1001 -z 0x1002", xe.BadParam, []string{"-f: a key without an algorithm (-e)"}},
		{"ipsec addsa -u 4500" + sel + " -a sha1 -b " + k20 + " -c " + k20 + " -y 0x1001 -z 0x1002", xe.BadParam, []string{`-u "4500": UDP encapsulation (RFC 3948) is for ESP`}},
		{"ipsec addsa -u 4500" + sel + esp + " -y 0x1001 -z 0x1002", xe.BadParam, []string{`-u "4500": AH cannot be UDP-encapsulated`}},
		{"ipsec addsa -u 0" + sel + esp, xe.BadPortNumber, []string{`-u "0"`}},
		{"ipsec addsa -u 4500:x" + sel + esp, xe.BadPortNumber, []string{`-u "4500:x"`}},
		{"ipsec addsa -k -5" + sel + esp, xe.BadParam, []string{`-k "-5"`}},
		{"ipsec addsa -R 65537" + sel + esp, xe.BadParam, []string{`-R "65537"`}},
		{"ipsec addsa -n ALLPOLICIES" + sel + esp, xe.BadParam, []string{`-n "ALLPOLICIES"`}},
		// Found when applied.
		{"ipsec addsa -s 10.0.0.77 -d 10.0.0.78" + esp, xe.PolicyNotFound, []string{"no policy -s 10.0.0.77 -d 10.0.0.78 -p any: give -m transport|tunnel to create one"}},
		{"ipsec addsa -n nope" + esp, xe.PolicyNotFound, []string{`-n "nope": no such policy (give -s, -d and -m to create it)`}},
		{"ipsec addsa -s any -d any -m tunnel" + esp, xe.BadParam, []string{"-r remote endpoint is required in tunnel mode"}},
		{"ipsec addsa -s 10.0.0.77 -d 10.0.0.78 -m transport -r fe80::1" + esp, xe.BadAddrRange, []string{"-r fe80::1: in transport mode the remote must be of the selectors' address family"}},
	}
	for _, tc := range tests {
		env, _ := newEnv(t)
		_, err := run(t, env, tc.line)
		wantErr(t, tc.line, err, tc.code, tc.want...)
		if env.Engine.SPD().Len() != 0 || env.Engine.SAD().Len() != 0 {
			t.Errorf("%s: left %d policies, %d SAs", tc.line, env.Engine.SPD().Len(), env.Engine.SAD().Len())
		}
		for _, k := range []string{k20, k24, k32} {
			if err != nil && strings.Contains(err.Error(), k) {
				t.Errorf("%s: the error echoes a key: %v", tc.line, err)
			}
		}
	}
}

// TestAddSAExistingPolicy covers addsa on policies that exist.
func TestAddSAExistingPolicy(t *testing.T) {
	k20 := hexKey(20, 2)
	gcm := " -e aes128gcm16 -f " + k20 + " -g " + k20 + " -w 0x1001 -x 0x1002"
	setup := []string{
		"ipsec policy -n T -e aes128gcm16 -m tunnel -r 192.0.2.9 -s 10.1.0.0/16 -d 10.2.0.0/16",
		"ipsec policy -n T2 -e aes128gcm16 -m tunnel -r 192.0.2.9 -s 10.1.0.0/16 -d 10.2.0.0/16 -l 5",
		"ipsec policy -n A -t AH -a sha1 -m transport -s 10.0.0.1 -d 10.0.0.2",
		"ipsec policy -n B -b bypass -s 10.0.0.3 -d 10.0.0.4",
		"ipsec policy -n W -t ESP -e aes128gcm16 -m transport -s 10.0.0.1 -d 10.0.0.0/24",
		"ipsec policy -n S -t ESP -e aes128gcm16 -m transport -s 10.5.0.0/16 -d 10.6.0.0/16 -r 10.6.0.1",
	}
	tests := []struct {
		line string
		code xe.Code
		want []string
	}{
		{"ipsec addsa -s 10.1.0.0/16 -d 10.2.0.0/16" + gcm, xe.Exist, []string{"-s 10.1.0.0/16 -d 10.2.0.0/16 -p any matches policies 1, 2: give -n or -l"}},
		{"ipsec addsa -n T -m transport" + gcm, xe.BadParam, []string{"-m transport: policy 1 is in tunnel mode"}},
		{"ipsec addsa -n T -r 192.0.2.8" + gcm, xe.BadParam, []string{"-r 192.0.2.8: policy 1's remote endpoint is 192.0.2.9"}},
		{"ipsec addsa -n W -r 10.0.0.2" + gcm, xe.BadParam, []string{"-r 10.0.0.2: policy 5 has no remote endpoint"}},
		{"ipsec addsa -n T -s 10.1.0.0/16 -d 10.2.0.0/24" + gcm, xe.BadParam, []string{`-n "T": policy 1 selects 10.1.0.0/16 -> 10.2.0.0/16 proto any, not -s 10.1.0.0/16 -d 10.2.0.0/24`}},
		{"ipsec addsa -n T -l 3" + gcm, xe.BadParam, []string{`-l 3: policy "T" has priority 4`}},
		{"ipsec addsa -n T -p tcp" + gcm, xe.BadParam, []string{`-p tcp: policy "T" is for protocol any`}},
		{"ipsec addsa -n B" + gcm, xe.BadParam, []string{`-n "B": policy 4 is a bypass policy`}},
		{"ipsec addsa -n A" + gcm, xe.BadParam, []string{"policy 3 uses AH: give -y and -z"}},
		{"ipsec addsa -n A -a sha1 -b " + k20 + " -c " + k20 + " -y 0x1001 -z 0x1002" + gcm, xe.BadParam, []string{"-w: policy 3 does not use ESP"}},
		{"ipsec addsa -n T -a sha1 -b " + k20 + " -c " + k20 + " -y 0x1001 -z 0x1002" + gcm, xe.BadParam, []string{"-y: policy 1 does not use AH"}},
		{"ipsec addsa -n T -R 0" + gcm, xe.BadParam, []string{"-R 0: policy 1 checks replay"}},
		// The engine refuses: a transport SA to a subnet has no remote.
		{"ipsec addsa -n W" + gcm, xe.BadParam, []string{"ipsec addsa: policy 5: ", "give the local address and a remote endpoint"}},
		{"ipsec addsa -n S" + gcm, xe.BadParam, []string{"this host's address toward 10.6.0.1 is not known here: give it with -L"}},
	}
	for _, tc := range tests {
		env, _ := newEnv(t)
		env.LocalAddr = nil
		for _, l := range setup {
			if strings.Contains(l, "tunnel") {
				l += " -L 192.0.2.1"
			}
			mustRun(t, env, l)
		}
		_, err := run(t, env, tc.line)
		wantErr(t, tc.line, err, tc.code, tc.want...)
		if env.Engine.SPD().Len() != len(setup) || env.Engine.SAD().Len() != 0 {
			t.Errorf("%s: left %d policies, %d SAs", tc.line, env.Engine.SPD().Len(), env.Engine.SAD().Len())
		}
	}

	// The SAs of an existing policy: -L, or LocalAddr.
	env, _ := newEnv(t)
	for _, l := range setup {
		mustRun(t, env, l)
	}
	mustRun(t, env, "ipsec addsa -n S -L 10.5.0.1"+gcm)
	mustRun(t, env, "ipsec addsa -n T -l 4 -m tunnel -r 192.0.2.9"+gcm)
	if sa := env.Engine.SAD().Session(6).OutboundESP(); sa.Local() != netip.MustParseAddr("10.5.0.1") || sa.Remote() != netip.MustParseAddr("10.6.0.1") {
		t.Errorf("SA of S: %v", sa)
	}
	if sa := env.Engine.SAD().Session(1).OutboundESP(); sa.Local() != netip.MustParseAddr("10.0.0.77") || sa.Mode() != sad.Tunnel {
		t.Errorf("SA of T: %v", sa)
	}
	// The same SPIs again: the engine refuses, and addsa names the policy.
	_, err := run(t, env, "ipsec addsa -n S -L 10.5.0.1"+gcm)
	wantErr(t, "duplicate SPI", err, xe.Exist, "ipsec addsa: policy 6: ")
	// A failing addsa that created its policy deletes it again.
	_, err = run(t, env, "ipsec addsa -n NEW -s 10.7.0.0/16 -d 10.8.0.1 -m transport -L 10.5.0.1"+gcm)
	wantErr(t, "duplicate SPI on a new policy", err, xe.Exist, "ipsec addsa: policy 7: ")
	if env.Engine.SPD().ByName("NEW") != nil {
		t.Errorf("the policy addsa created stayed after its SAs failed")
	}
}
