package messaging

import (
	"net/netip"
	"testing"

	"github.com/sabre-ipsec/sabre/classify"
	"github.com/sabre-ipsec/sabre/internal/testutil/packet"
	"github.com/sabre-ipsec/sabre/ipsec"
	"github.com/sabre-ipsec/sabre/pktbuf"
	"github.com/sabre-ipsec/sabre/sad"
	"github.com/sabre-ipsec/sabre/spd"
	"github.com/sabre-ipsec/sabre/suite"
)

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

// key returns a deterministic key of n bytes distinct per seed.
func key(n int, seed byte) []byte {
	k := make([]byte, n)
	for i := range k {
		k[i] = seed ^ byte(i*31+7)
	}
	return k
}

// tunnel is an engine with one manually keyed ESP tunnel policy
// (aes128gcm16) from 10.1.0.0/24 to 10.2.0.0/24 between 192.0.2.1 and
// 192.0.2.2; its outbound SA has SPI 0x1000.
type tunnel struct {
	e        *ipsec.Engine
	policyID uint32
}

func newTunnel(t testing.TB, soft, hard sad.Lifetime) *tunnel {
	t.Helper()
	db := spd.NewDB()
	id, err := db.Add(spd.Policy{Action: spd.Secure, Mode: spd.Tunnel, Flags: spd.FlagProtoESP | spd.FlagCheckReplay,
		Src: classify.MustParseSelector("10.1.0.0/24"), Dst: classify.MustParseSelector("10.2.0.0/24"),
		TunnelLocal: mustAddr("192.0.2.1"), TunnelRemote: mustAddr("192.0.2.2")})
	if err != nil {
		t.Fatal(err)
	}
	e := ipsec.New(db, sad.NewDB(), ipsec.Config{})
	t.Cleanup(e.Close)
	if err := e.AddManualSA(id, ipsec.ManualSA{Encr: suite.EncrAESGCM16, EncrKeyOut: key(20, 0x10), EncrKeyIn: key(20, 0x20),
		ESPSPIOut: 0x1000, ESPSPIIn: 0x2000, Local: mustAddr("192.0.2.1"), Soft: soft, Hard: hard}); err != nil {
		t.Fatal(err)
	}
	return &tunnel{e: e, policyID: id}
}

// udpPacket returns a UDP datagram of n octets from 10.1.0.5 to 10.2.0.9,
// as a stack hands it to the hooks.
func udpPacket(n int) *pktbuf.Buffer {
	return packet.UDPBuffer(netip.AddrPortFrom(mustAddr("10.1.0.5"), 1), netip.AddrPortFrom(mustAddr("10.2.0.9"), 2), make([]byte, n-28))
}
