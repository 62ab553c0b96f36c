package ipsec

import (
	"net/netip"
	"testing"

	"github.com/sabre-ipsec/sabre/classify"
	"github.com/sabre-ipsec/sabre/sad"
	"github.com/sabre-ipsec/sabre/spd"
	"github.com/sabre-ipsec/sabre/suite"
)

// TestAddManualSAOnly: ManualSA.Only adds the SAs of one direction, as an
// IKE rekey's responder does (the inbound SAs with its response, the
// outbound ones once the peer deleted the old pair), for ESP and AH alike.
func TestAddManualSAOnly(t *testing.T) {
	db := spd.NewDB()
	id, err := db.Add(spd.Policy{Action: spd.Secure, Mode: spd.Tunnel, Flags: spd.FlagProtoESP | spd.FlagProtoAH,
		Src: classify.MustParseSelector("10.1.0.0/24"), Dst: classify.MustParseSelector("10.2.0.0/24"),
		TunnelLocal: netip.MustParseAddr("192.0.2.1"), TunnelRemote: netip.MustParseAddr("192.0.2.2")})
	if err != nil {
		t.Fatal(err)
	}
	e := New(db, sad.NewDB(), Config{})
	t.Cleanup(e.Close)
	m := ManualSA{Encr: suite.EncrAESCBC, Integ: suite.IntegHMACSHA256128,
		EncrKeyIn: key(16, 1), IntegKeyIn: key(32, 2), ESPSPIIn: 0x1000, AHSPIIn: 0x1001,
		ESPSPIOut: 0x2000, AHSPIOut: 0x2001, Only: sad.Inbound}
	if err := e.AddManualSA(id, m); err != nil {
		t.Fatal(err)
	}
	s := e.SAD().Session(id)
	if len(s.SAs()) != 2 || len(s.Inbound()) != 2 || s.OutboundESP() != nil || s.OutboundAH() != nil {
		t.Fatalf("Only inbound: %d SAs, %d inbound, outbound ESP %v AH %v", len(s.SAs()), len(s.Inbound()), s.OutboundESP(), s.OutboundAH())
	}
	m.EncrKeyIn, m.IntegKeyIn = nil, nil
	m.EncrKeyOut, m.IntegKeyOut = key(16, 3), key(32, 4)
	m.Only = sad.Outbound
	if err := e.AddManualSA(id, m); err != nil {
		t.Fatal(err)
	}
	s = e.SAD().Session(id)
	if len(s.SAs()) != 4 || s.OutboundESP().SPI() != 0x2000 || s.OutboundAH().SPI() != 0x2001 {
		t.Fatalf("then Only outbound: %d SAs, outbound %v %v", len(s.SAs()), s.OutboundESP(), s.OutboundAH())
	}
}
