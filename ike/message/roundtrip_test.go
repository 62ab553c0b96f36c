package message

import (
	"bytes"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// withoutRaw returns copies of payloads with the received-octets fields
// cleared, which differ between a parsed and a built payload.
func withoutRaw(payloads []Payload) []Payload {
	out := make([]Payload, len(payloads))
	for i, p := range payloads {
		if id, ok := p.(*ID); ok {
			c := *id
			c.Raw = nil
			p = &c
		}
		out[i] = p
	}
	return out
}

// equalMessages compares messages field by field, ignoring Raw.
func equalMessages(a, b *Message) bool {
	return a.Header == b.Header && reflect.DeepEqual(withoutRaw(a.Payloads), withoutRaw(b.Payloads))
}

var (
	v4a = netip.MustParseAddr("10.1.0.0")
	v4b = netip.MustParseAddr("10.1.255.255")
	v6a = netip.MustParseAddr("2001:db8::")
	v6b = netip.MustParseAddr("2001:db8::ffff")
)

// payloadCases holds one or more payloads of every type with their
// encoding, body only (after the generic header).
var payloadCases = []struct {
	name string
	p    Payload
	body string
}{
	{"SA IKE", &SA{Proposals: []Proposal{{Number: 1, Protocol: ProtocolIKE, Transforms: []Transform{
		EncrTransform(EncrAESCBC, 256), IntegTransform(IntegHMACSHA256128), PRFTransform(PRFHMACSHA2256), DHTransform(MODP2048),
	}}}},
		"0000002c 01010004" + "0300000c 0100000c 800e0100" + "03000008 0300000c" + "03000008 02000005" + "00000008 0400000e"},
	{"SA ESP two proposals", &SA{Proposals: []Proposal{
		{Number: 1, Protocol: ProtocolESP, SPI: []byte{0xc1, 0, 0, 1}, Transforms: []Transform{
			EncrTransform(EncrAESGCM16, 128), ESNTransform(NoESN)}},
		{Number: 2, Protocol: ProtocolESP, SPI: []byte{0xc1, 0, 0, 1}, Transforms: []Transform{
			EncrTransform(EncrAESCBC, 128), IntegTransform(IntegHMACSHA196), ESNTransform(ESN), ESNTransform(NoESN)}},
	}},
		"02000020 01030402 c1000001" + "0300000c 01000014 800e0080" + "00000008 05000000" +
			"00000030 02030404 c1000001" + "0300000c 0100000c 800e0080" + "03000008 03000002" + "03000008 05000001" + "00000008 05000000"},
	{"SA IKE rekey SPI and TLV attribute", &SA{Proposals: []Proposal{{Number: 3, Protocol: ProtocolIKE,
		SPI: []byte{1, 2, 3, 4, 5, 6, 7, 8}, Transforms: []Transform{
			{Type: TransformENCR, ID: 99, Attributes: []Attribute{{Type: 100, TLV: true, Data: []byte{0xab}}, {Type: AttributeKeyLength, Value: 128}}},
		}}}},
		"00000021 03010801 0102030405060708" + "00000011 01000063 00640001ab 800e0080"},
	{"KE", &KE{Group: Curve25519, Data: bytes.Repeat([]byte{0x42}, 32)},
		"001f0000" + strings.Repeat("42", 32)},
	{"IDi FQDN", &ID{Type: IDFQDN, Data: []byte("moon.strongswan.org")},
		"02000000 6d6f6f6e2e7374726f6e677377616e2e6f7267"},
	{"IDr IPv4", &ID{Responder: true, Type: IDIPv4Addr, Data: []byte{192, 0, 2, 1}}, "01000000 c0000201"},
	{"IDr IPv6", &ID{Responder: true, Type: IDIPv6Addr, Data: v6a.AsSlice()}, "05000000 20010db8000000000000000000000000"},
	{"IDi NULL", &ID{Type: IDNull}, "0d000000"},
	{"CERT", &Cert{Encoding: CertX509Signature, Data: []byte{0x30, 0x82, 0x01, 0x00}}, "04 30820100"},
	{"CERTREQ", &CertReq{Encoding: CertX509Signature, CA: bytes.Repeat([]byte{0xca}, 40)}, "04" + strings.Repeat("ca", 40)},
	{"AUTH PSK", &Auth{Method: AuthSharedKeyMIC, Data: bytes.Repeat([]byte{0xa5}, 32)}, "02000000" + strings.Repeat("a5", 32)},
	{"AUTH digital signature", &Auth{Method: AuthDigitalSignature, Data: []byte{7, 1, 2, 3, 4, 5, 6, 7, 9}}, "0e000000 070102030405060709"},
	{"Nonce", &Nonce{Data: bytes.Repeat([]byte{0x11}, 32)}, strings.Repeat("11", 32)},
	{"N status", &Notify{Type: InitialContact}, "00004000"},
	{"N COOKIE", &Notify{Type: Cookie, Data: []byte{1, 2, 3, 4}}, "00004006 01020304"},
	{"N INVALID_KE_PAYLOAD", NewInvalidKEPayload(ECP384), "00000011 0014"},
	{"N REKEY_SA", &Notify{Protocol: ProtocolESP, SPI: []byte{0xca, 0xfe, 0, 1}, Type: RekeySA}, "03044009 cafe0001"},
	{"N unknown status", &Notify{Type: 40000, Data: []byte("x")}, "00009c40 78"},
	{"D IKE", &Delete{Protocol: ProtocolIKE}, "01000000"},
	{"D ESP", &Delete{Protocol: ProtocolESP, SPIs: []uint32{0xc1000001, 0xc1000002}}, "03040002 c1000001 c1000002"},
	{"V", &VendorID{Data: []byte("strongSwan")}, "7374726f6e675377616e"},
	{"TSi IPv4", &TS{Selectors: []TrafficSelector{
		{Type: TSIPv4AddrRange, StartPort: 0, EndPort: 65535, Start: v4a, End: v4b},
		{Type: TSIPv4AddrRange, IPProtocol: 6, StartPort: 80, EndPort: 80, Start: v4a, End: v4a},
	}}, "02000000 07000010 0000ffff 0a010000 0a01ffff 07060010 00500050 0a010000 0a010000"},
	{"TSr IPv6 and unknown type", &TS{Responder: true, Selectors: []TrafficSelector{
		{Type: TSIPv6AddrRange, IPProtocol: 17, StartPort: 500, EndPort: 500, Start: v6a, End: v6b},
		{Type: TSSecLabel, Data: []byte("system_u")},
	}}, "02000000 08110028 01f401f4 20010db8000000000000000000000000 20010db800000000000000000000ffff" +
		"0a00000c 73797374656d5f75"},
	{"TS OPAQUE ports", &TS{Selectors: []TrafficSelector{{Type: TSIPv4AddrRange, IPProtocol: 17, StartPort: 65535, EndPort: 0, Start: v4a, End: v4b}}},
		"01000000 07110010 ffff0000 0a010000 0a01ffff"},
	{"SK", &SK{FirstPayload: PayloadIDi, Data: []byte{1, 2, 3, 4}}, "01020304"},
	{"SKF", &SKF{FragmentNumber: 2, TotalFragments: 3, Data: []byte{9, 9}}, "0002 0003 0909"},
	{"CP request", &CP{Type: CFGRequest, Attributes: []CPAttribute{{Type: InternalIP4Address}, {Type: InternalIP4DNS}, {Type: InternalIP6Address}}},
		"01000000 00010000 00030000 00080000"},
	{"CP reply", &CP{Type: CFGReply, Attributes: []CPAttribute{
		{Type: InternalIP4Address, Value: []byte{10, 3, 0, 1}},
		{Type: InternalIP4Subnet, Value: []byte{10, 1, 0, 0, 255, 255, 0, 0}},
		{Type: InternalIP6Address, Value: append(v6a.AsSlice(), 64)},
		{Type: ApplicationVersion, Value: []byte("sabre")},
		{Type: 28675, Value: []byte{1}}, // a private-use attribute
	}}, "02000000 00010004 0a030001 000d0008 0a010000ffff0000 00080011 20010db8000000000000000000000000 40" +
		"00070005 7361627265 70030001 01"},
	{"EAP request", &EAP{Message: []byte{EAPRequest, 7, 0, 6, 4, 0x20}}, "01070006 0420"},
	{"EAP success", &EAP{Message: []byte{EAPSuccess, 7, 0, 4}}, "03070004"},
	{"Unknown", &Unknown{Type: 200, Data: []byte("??")}, "3f3f"},
}

// TestPayloadRoundTrip encodes every payload, compares the body with the
// expected octets and parses it back.
func TestPayloadRoundTrip(t *testing.T) {
	for _, c := range payloadCases {
		t.Run(c.name, func(t *testing.T) {
			outer := c.p.PayloadType() == PayloadSK || c.p.PayloadType() == PayloadSKF
			var b, msg []byte
			var first PayloadType
			var err error
			if outer {
				m := &Message{Header: Header{SPIi: 1, Exchange: IKEAuth}, Payloads: []Payload{c.p}}
				if msg, err = m.Marshal(); err != nil {
					t.Fatal(err)
				}
				first, b = PayloadType(msg[16]), msg[HeaderLen:]
			} else if first, b, err = MarshalPayloads([]Payload{c.p}); err != nil {
				t.Fatal(err)
			}
			if first != c.p.PayloadType() {
				t.Errorf("first payload %v", first)
			}
			want := mustHex(t, c.body)
			if len(b) < 4 || !bytes.Equal(b[4:], want) {
				t.Fatalf("body\n%x\nwant\n%x", b[4:], want)
			}
			if int(b[2])<<8|int(b[3]) != len(b) {
				t.Errorf("payload length %x for %d octets", b[2:4], len(b))
			}
			var got []Payload
			if outer {
				m, err := Parse(msg)
				if err != nil {
					t.Fatal(err)
				}
				got = m.Payloads
			} else if got, err = ParsePayloads(first, b); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(withoutRaw(got), []Payload{c.p}) {
				t.Errorf("parsed %#v\nwant %#v", got[0], c.p)
			}
			if id, ok := got[0].(*ID); ok && !bytes.Equal(id.RestOfIDPayload(), b[4:]) {
				t.Errorf("RestOfIDPayload %x", id.RestOfIDPayload())
			}
		})
	}
}

// TestChainRoundTrip puts every payload type in one inner chain.
func TestChainRoundTrip(t *testing.T) {
	var all []Payload
	for _, c := range payloadCases {
		if c.p.PayloadType() != PayloadSK && c.p.PayloadType() != PayloadSKF {
			all = append(all, c.p)
		}
	}
	first, b, err := MarshalPayloads(all)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParsePayloads(first, b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(withoutRaw(got), all) {
		t.Errorf("parsed %s\nwant %s", Summary(got), Summary(all))
	}
	// The same chain in a message in front of an SK payload.
	m := &Message{Header: Header{SPIi: 7, SPIr: 8, Exchange: IKEAuth, Flags: FlagResponse, MessageID: 1, Version: 0x20},
		Payloads: append(all, &SK{FirstPayload: PayloadSA, Data: []byte{1}})}
	b, err = m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	p, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	m.NextPayload, m.Length = all[0].PayloadType(), uint32(len(b))
	if !equalMessages(p, m) {
		t.Errorf("parsed %v\nwant %v", p, m)
	}
}

// TestRawKept checks the received octets stay next to the parsed form,
// reserved octets included, since AUTH covers them.
func TestRawKept(t *testing.T) {
	body := mustHex(t, "02 ffffff 6d6f6f6e") // nonzero RESERVED
	got, err := ParsePayloads(PayloadIDi, append([]byte{0, 0, 0, byte(4 + len(body))}, body...))
	if err != nil {
		t.Fatal(err)
	}
	id := got[0].(*ID)
	if id.String() != "moon" || !bytes.Equal(id.RestOfIDPayload(), body) {
		t.Errorf("ID %v, rest %x", id, id.RestOfIDPayload())
	}
	built := &ID{Type: IDFQDN, Data: []byte("moon")}
	if !bytes.Equal(built.RestOfIDPayload(), mustHex(t, "02000000 6d6f6f6e")) {
		t.Errorf("built rest %x", built.RestOfIDPayload())
	}
}

// TestMarshalRejects lists values Marshal must not encode.
func TestMarshalRejects(t *testing.T) {
	for _, c := range []struct {
		name     string
		payloads []Payload
		reason   string
	}{
		{"SK not last", []Payload{&SK{}, &Nonce{Data: make([]byte, 16)}}, "not the last"},
		{"short nonce", []Payload{&Nonce{Data: make([]byte, 15)}}, "nonce of 15 octets"},
		{"empty SA", []Payload{&SA{}}, "no proposal"},
		{"proposal numbering", []Payload{&SA{Proposals: []Proposal{
			{Number: 1, Protocol: ProtocolIKE, Transforms: []Transform{PRFTransform(PRFHMACSHA1)}},
			{Number: 3, Protocol: ProtocolIKE, Transforms: []Transform{PRFTransform(PRFHMACSHA1)}}}}}, "number 3 after 1"},
		{"ESP SPI size", []Payload{&SA{Proposals: []Proposal{{Number: 1, Protocol: ProtocolESP, Transforms: []Transform{ESNTransform(NoESN)}}}}}, "SPI size 0"},
		{"TLV key length", []Payload{&SA{Proposals: []Proposal{{Number: 1, Protocol: ProtocolIKE, Transforms: []Transform{
			{Type: TransformENCR, ID: 12, Attributes: []Attribute{{Type: AttributeKeyLength, TLV: true, Data: []byte{1, 0}}}}}}}}}, "TLV"},
		{"no transform", []Payload{&SA{Proposals: []Proposal{{Number: 1, Protocol: ProtocolIKE}}}}, "no transform"},
		{"TS v4 type with v6 address", []Payload{&TS{Selectors: []TrafficSelector{{Type: TSIPv4AddrRange, Start: v6a, End: v6b}}}}, "TS_IPV4_ADDR_RANGE with"},
		{"TS start after end", []Payload{&TS{Selectors: []TrafficSelector{{Type: TSIPv4AddrRange, Start: v4b, End: v4a, EndPort: 65535}}}}, "after end address"},
		{"TS ports", []Payload{&TS{Selectors: []TrafficSelector{{Type: TSIPv4AddrRange, Start: v4a, End: v4b, StartPort: 9, EndPort: 8}}}}, "start port 9"},
		{"empty TS", []Payload{&TS{}}, "no traffic selector"},
		{"notify SPI", []Payload{&Notify{Protocol: ProtocolESP, SPI: []byte{1, 2, 3}, Type: RekeySA}}, "SPI size 3"},
		{"NAT-D length", []Payload{&Notify{Type: NATDetectionSourceIP, Data: make([]byte, 19)}}, "want 20"},
		{"IKE delete with SPI", []Payload{&Delete{Protocol: ProtocolIKE, SPIs: []uint32{1}}}, "1 SPIs"},
		{"unknown of a known type", []Payload{&Unknown{Type: PayloadKE}}, "which this package parses"},
		{"unknown type 0", []Payload{&Unknown{}}, "type 0"},
		{"SKF numbers", []Payload{&SKF{FragmentNumber: 3, TotalFragments: 2}}, "fragment 3 of 2"},
		{"EAP length", []Payload{&EAP{Message: []byte{1, 1, 0, 9, 1}}}, "EAP Length 9"},
		{"CP address length", []Payload{&CP{Type: CFGReply, Attributes: []CPAttribute{{Type: InternalIP4DNS, Value: []byte{1}}}}}, "want 0 or 4"},
		{"IPv4 ID length", []Payload{&ID{Type: IDIPv4Addr, Data: []byte{1}}}, "ID_IPV4_ADDR of 1 octets"},
		{"oversized", []Payload{&VendorID{Data: make([]byte, 0x10000)}}, "16-bit length"},
		{"nil", []Payload{nil}, "nil"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := &Message{Header: Header{Exchange: IKEAuth}, Payloads: c.payloads}
			_, err := m.Marshal()
			if err == nil || !strings.Contains(err.Error(), c.reason) {
				t.Errorf("Marshal: %v, want %q", err, c.reason)
			}
		})
	}
}

func TestStrings(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{PayloadSA.String(), "SA"},
		{PayloadSA.Description(), "Security Association"},
		{PayloadType(99).String(), "PAYLOAD_99"},
		{IKESAInit.String(), "IKE_SA_INIT"},
		{CreateChildSA.String(), "CREATE_CHILD_SA"},
		{(FlagInitiator | FlagResponse).String(), "Initiator|Response"},
		{InvalidKEPayload.String(), "INVALID_KE_PAYLOAD"},
		{NATDetectionDestinationIP.String(), "NAT_DETECTION_DESTINATION_IP"},
		{IKEv2FragmentationSupported.String(), "IKEV2_FRAGMENTATION_SUPPORTED"},
		{NotifyType(8000).String(), "NOTIFY_ERROR_8000"},
		{NotifyType(50000).String(), "NOTIFY_STATUS_50000"},
		{PRFAES128XCBC.String(), "PRF_AES128_XCBC"},
		{PRFHMACSHA2512.String(), "PRF_HMAC_SHA2_512"},
		{EncrAESGCM16.String(), "ENCR_AES_GCM_16"},
		{EncrChaCha20Poly1305.String(), "ENCR_CHACHA20_POLY1305"},
		{IntegHMACSHA256128.String(), "AUTH_HMAC_SHA2_256_128"},
		{Curve25519.String(), "CURVE_25519"},
		{MODP3072.String(), "MODP_3072"},
		{GroupID(1000).String(), "GROUP_1000"},
		{TransformDH.String(), "D-H"},
		{ProtocolESP.String(), "ESP"},
		{IDDERASN1DN.String(), "ID_DER_ASN1_DN"},
		{AuthECDSASHA384P384.String(), "ECDSA with SHA-384 on the P-384 curve"},
		{TSIPv6AddrRange.String(), "TS_IPV6_ADDR_RANGE"},
		{InternalIP4Address.String(), "INTERNAL_IP4_ADDRESS"},
		{CFGReply.String(), "CFG_REPLY"},
		{EncrTransform(EncrAESCBC, 256).String(), "ENCR_AES_CBC keylen=256"},
		{(&Header{Exchange: IKEAuth, Flags: FlagResponse, MessageID: 1, SPIi: 1}).String(),
			"IKE_AUTH response #1 SPIs 0000000000000001_i 0000000000000000_r"},
		{(&TS{Selectors: []TrafficSelector{{Type: TSIPv4AddrRange, EndPort: 65535, Start: v4a, End: v4b}}}).String(),
			"TSi 10.1.0.0-10.1.255.255 proto 0 port 0-65535"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

func TestHelpers(t *testing.T) {
	ke := NewInvalidKEPayload(MODP2048)
	if g, ok := ke.InvalidKEGroup(); !ok || g != MODP2048 {
		t.Errorf("InvalidKEGroup %v %v", g, ok)
	}
	if _, ok := (&Notify{Type: Cookie, Data: []byte{1, 2}}).InvalidKEGroup(); ok {
		t.Error("InvalidKEGroup of a COOKIE")
	}
	var cp *CP
	for _, c := range payloadCases {
		if c.name == "CP reply" {
			cp = c.p.(*CP)
		}
	}
	if a, ok := cp.Attributes[0].Addr(); !ok || a != netip.MustParseAddr("10.3.0.1") {
		t.Errorf("IPv4 address %v", a)
	}
	if p, ok := cp.Attributes[1].Prefix(); !ok || p != netip.MustParsePrefix("10.1.0.0/16") {
		t.Errorf("IPv4 subnet %v", p)
	}
	if a, ok := cp.Attributes[2].Addr(); !ok || a != v6a {
		t.Errorf("IPv6 address %v", a)
	}
	if p, ok := cp.Attributes[2].Prefix(); !ok || p != netip.MustParsePrefix("2001:db8::/64") {
		t.Errorf("IPv6 address prefix %v", p)
	}
	if _, ok := (CPAttribute{Type: InternalIP4Subnet, Value: []byte{10, 0, 0, 0, 255, 0, 255, 0}}).Prefix(); ok {
		t.Error("non-contiguous netmask accepted")
	}
	cr := &CertReq{Encoding: CertX509Signature, CA: make([]byte, 40)}
	if hs, ok := cr.CAHashes(); !ok || len(hs) != 2 {
		t.Errorf("CAHashes %d %v", len(hs), ok)
	}
	if _, ok := (&CertReq{CA: make([]byte, 21)}).CAHashes(); ok {
		t.Error("CAHashes of 21 octets")
	}
	eap := &EAP{Message: []byte{EAPResponse, 9, 0, 6, 26, 1}}
	if typ, ok := eap.Type(); eap.Code() != EAPResponse || eap.Identifier() != 9 || !ok || typ != 26 {
		t.Errorf("EAP %v %v %v", eap.Code(), eap.Identifier(), typ)
	}
	id := &ID{Type: IDIPv6Addr, Data: v6a.AsSlice()}
	if a, ok := id.Addr(); !ok || a != v6a || id.String() != "2001:db8::" {
		t.Errorf("ID address %v", id)
	}
	e := &NotifyError{Type: InvalidKEPayload, Data: []byte{0, 19}, Reason: "r"}
	if n := e.Notify(); n.Type != InvalidKEPayload || !bytes.Equal(n.Data, []byte{0, 19}) {
		t.Errorf("Notify() %v", n)
	}
	if !errors.Is(e, InvalidKEPayload) || errors.Is(e, InvalidSyntax) {
		t.Error("errors.Is on NotifyError")
	}
	if d := (&Delete{Protocol: ProtocolAH}).SPISize(); d != 4 {
		t.Errorf("AH SPI size %d", d)
	}
	tr := EncrTransform(EncrAESCTR, 192)
	if k, ok := tr.KeyLength(); !ok || k != 192 {
		t.Errorf("KeyLength %d %v", k, ok)
	}
	if _, ok := PRFTransform(PRFHMACSHA1).KeyLength(); ok {
		t.Error("KeyLength of a PRF")
	}
}
