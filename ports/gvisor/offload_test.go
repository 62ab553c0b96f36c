package gvisor

import (
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/link/nested"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/sabre-ipsec/sabre/classify"
	"github.com/sabre-ipsec/sabre/ipsec"
	"github.com/sabre-ipsec/sabre/pktbuf"
	"github.com/sabre-ipsec/sabre/sad"
	"github.com/sabre-ipsec/sabre/spd"
	"github.com/sabre-ipsec/sabre/suite"
)

// TestCapabilitiesMasked: the Endpoint hides the child's checksum offload
// and segmentation offload, and keeps its other capabilities.
func TestCapabilitiesMasked(t *testing.T) {
	child := channel.New(1, 1500, "\x02\x00\x00\x00\x00\x01")
	defer child.Close()
	child.LinkEPCapabilities = stack.CapabilityTXChecksumOffload | stack.CapabilityRXChecksumOffload | stack.CapabilityResolutionRequired
	child.SupportedGSOKind = stack.HostGSOSupported
	ep := New(child, spd.NewDB(), sad.NewDB(), ipsec.Config{})
	defer ep.Engine().Close()
	if got := ep.Capabilities(); got != stack.CapabilityResolutionRequired {
		t.Errorf("Capabilities() = %#x, want only CapabilityResolutionRequired (%#x)", got, stack.CapabilityResolutionRequired)
	}
	if ep.GSOMaxSize() != 0 || ep.SupportedGSO() != stack.GSONotSupported {
		t.Errorf("GSOMaxSize() = %d, SupportedGSO() = %v; want 0, GSONotSupported", ep.GSOMaxSize(), ep.SupportedGSO())
	}
}

// offloadLink claims checksum and segmentation offload that it does not
// perform: a stack that believed it would send TCP segments with
// unfinished checksums and larger than the MTU.
type offloadLink struct {
	nested.Endpoint
}

func (l *offloadLink) Capabilities() stack.LinkEndpointCapabilities {
	return l.Endpoint.Capabilities() | stack.CapabilityTXChecksumOffload | stack.CapabilityRXChecksumOffload
}

func (*offloadLink) GSOMaxSize() uint32 { return 1 << 16 }

func (*offloadLink) SupportedGSO() stack.SupportedGSO { return stack.HostGSOSupported }

func newOffloadLink(child stack.LinkEndpoint) stack.LinkEndpoint {
	l := &offloadLink{}
	l.Endpoint.Init(child, l)
	return l
}

// TestTCPOverOffloadingLink runs TCP over a link that claims offloads:
// with them masked the stack completes every checksum before encryption
// and verifies it after decryption, so the transfer succeeds and no packet
// exceeds the link's MTU.
func TestTCPOverOffloadingLink(t *testing.T) {
	n := newNet(t, netConfig{mode: spd.Transport, ethernet: true, wrap: newOffloadLink})
	n.wire.capturing.Store(true)
	tcpEcho(t, n.a, n.b, false, 200<<10)
	tcpEcho(t, n.a, n.b, true, 200<<10)
	if s := summarize(n.wire.captured()); s.largest > 1500 || s.fragments != 0 {
		t.Errorf("largest packet %d bytes, %d fragments; want at most 1500 and none", s.largest, s.fragments)
	}
}

// TestMTU: the Endpoint's MTU is the child's less MaxOverhead.
func TestMTU(t *testing.T) {
	if MaxOverhead != 121 {
		t.Errorf("MaxOverhead = %d, want 40+8+8+16+15+2+32 = 121", MaxOverhead)
	}
	for _, c := range []struct{ child, want uint32 }{{1500, 1379}, {9000, 8879}, {MaxOverhead, 0}, {64, 0}} {
		child := channel.New(1, c.child, "")
		ep := New(child, spd.NewDB(), sad.NewDB(), ipsec.Config{})
		if got := ep.MTU(); got != c.want {
			t.Errorf("child MTU %d: MTU() = %d, want %d", c.child, got, c.want)
		}
		ep.Close()
	}
}

// TestMaxOverheadIsWorstCase encapsulates packets of exactly the
// Endpoint's MTU (and a few bytes less, for every padding length) under
// every ESP suite, in both modes and families, with UDP encapsulation:
// none may exceed the child's MTU.
func TestMaxOverheadIsWorstCase(t *testing.T) {
	const childMTU = 1500
	suites := []struct {
		name     string
		encr     suite.EncrID
		encrLen  int
		integ    suite.IntegID
		integLen int
	}{
		{"aes128gcm16", suite.EncrAESGCM16, 20, 0, 0},
		{"chacha20poly1305", suite.EncrChaCha20Poly1305, 36, 0, 0},
		{"aes256cbc-sha512", suite.EncrAESCBC, 32, suite.IntegHMACSHA512256, 64},
		{"aes128ctr-sha384", suite.EncrAESCTR, 20, suite.IntegHMACSHA384192, 48},
		{"3des-sha256", suite.Encr3DES, 24, suite.IntegHMACSHA256128, 32},
	}
	worst := 0
	for _, s := range suites {
		for _, m := range modes {
			for _, v6 := range []bool{false, true} {
				local, remote := addrA4, addrB4
				if v6 {
					local, remote = addrA6, addrB6
				}
				db := spd.NewDB()
				sl, _ := classify.SelectorFromAddr(local)
				sr, _ := classify.SelectorFromAddr(remote)
				p := spd.Policy{Action: spd.Secure, Mode: m.mode, Src: sl, Dst: sr, TunnelLocal: local, TunnelRemote: remote}
				id, err := db.Add(p)
				if err != nil {
					t.Fatal(err)
				}
				e := ipsec.New(db, sad.NewDB(), ipsec.Config{MTU: childMTU})
				err = e.AddManualSA(id, ipsec.ManualSA{
					Encr: s.encr, EncrKeyIn: keyBytes(s.encrLen, 1), EncrKeyOut: keyBytes(s.encrLen, 2),
					Integ: s.integ, IntegKeyIn: keyBytes(s.integLen, 3), IntegKeyOut: keyBytes(s.integLen, 4),
					ESPSPIIn: 0x100, ESPSPIOut: 0x200, Local: local,
					Encap: &sad.UDPEncap{SrcPort: ipsec.NATTPort, DstPort: ipsec.NATTPort},
				})
				if err != nil {
					t.Fatalf("%s: %v", s.name, err)
				}
				for size := childMTU - MaxOverhead - 20; size <= childMTU-MaxOverhead; size++ {
					b := udpPacket(local, remote, size)
					res, err := e.Encapsulate(b)
					if res != ipsec.SecureTunnel && res != ipsec.SecureTransport {
						t.Fatalf("%s %s: Encapsulate = %v, %v", s.name, m.name, res, err)
					}
					worst = max(worst, b.Len()-size)
					if b.Len() > childMTU {
						t.Errorf("%s %s v6=%v: a %d-byte packet became %d bytes, over the %d-byte MTU", s.name, m.name, v6, size, b.Len(), childMTU)
					}
					pktbuf.DefaultPool.Put(b)
				}
				e.Close()
			}
		}
	}
	t.Logf("largest growth seen: %d bytes (MaxOverhead %d)", worst, MaxOverhead)
}

// keyBytes returns n key bytes that differ with seed.
func keyBytes(n int, seed byte) []byte {
	k := make([]byte, n)
	for i := range k {
		k[i] = seed*17 + byte(i*31)
	}
	return k
}
