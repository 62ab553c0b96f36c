package message

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"
)

// readVector reads a hex file from testdata; lines starting with # name
// the source.
func readVector(t testing.TB, name string) []byte {
	t.Helper()
	text, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var h strings.Builder
	for line := range strings.Lines(string(text)) {
		if !strings.HasPrefix(line, "#") {
			h.WriteString(strings.Join(strings.Fields(line), ""))
		}
	}
	b, err := hex.DecodeString(h.String())
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return b
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// vectors are messages real implementations sent, with what they hold.
var vectors = []struct {
	file     string
	exchange ExchangeType
	response bool
	summary  string
}{
	{"ccm12-ike_sa_init-request.hex", IKESAInit, false,
		"SA KE No N(NAT_DETECTION_SOURCE_IP) N(NAT_DETECTION_DESTINATION_IP) N(SIGNATURE_HASH_ALGORITHMS)"},
	{"ccm12-ike_sa_init-response.hex", IKESAInit, true,
		"SA KE No N(NAT_DETECTION_SOURCE_IP) N(NAT_DETECTION_DESTINATION_IP) N(MULTIPLE_AUTH_SUPPORTED)"},
	{"ccm12-informational-request.hex", Informational, false, "SK"},
	{"ccm12-informational-response.hex", Informational, true, "SK"},
	{"wiki-ike_sa_init-request.hex", IKESAInit, false,
		"SA KE No V V V V N(IKEV2_FRAGMENTATION_SUPPORTED) N(REDIRECT_SUPPORTED) N(SIGNATURE_HASH_ALGORITHMS)"},
	{"rfc7634-appendix-b.hex", Informational, false, "SK"},
}

// TestVectors parses real messages, checks them against the rules table
// and marshals them back octet for octet.
func TestVectors(t *testing.T) {
	for _, v := range vectors {
		t.Run(v.file, func(t *testing.T) {
			b := readVector(t, v.file)
			m, err := Parse(b)
			if err != nil {
				t.Fatal(err)
			}
			if m.Exchange != v.exchange || m.IsResponse() != v.response {
				t.Errorf("got %v response=%v, want %v response=%v", m.Exchange, m.IsResponse(), v.exchange, v.response)
			}
			if got := Summary(m.Payloads); got != v.summary {
				t.Errorf("payloads %q, want %q", got, v.summary)
			}
			if !bytes.Equal(m.Raw, b) || int(m.Length) != len(b) {
				t.Errorf("Raw/Length not the parsed message")
			}
			if err := CheckMessage(m); err != nil {
				t.Errorf("CheckMessage: %v", err)
			}
			out, err := m.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out, b) {
				t.Errorf("Marshal differs:\n got %x\nwant %x", out, b)
			}
		})
	}
}

// TestBuildStrongSwanIKESAInit builds, from Go values, the IKE_SA_INIT
// request strongSwan sent in Wireshark's ikev2-decrypt-aes128ccm12
// capture and compares it octet for octet.
func TestBuildStrongSwanIKESAInit(t *testing.T) {
	want := readVector(t, "ccm12-ike_sa_init-request.hex")
	m := &Message{
		Header: Header{SPIi: 0xea684d21597afd36, Exchange: IKESAInit, Flags: FlagInitiator},
		Payloads: []Payload{
			&SA{Proposals: []Proposal{{Number: 1, Protocol: ProtocolIKE, Transforms: []Transform{
				EncrTransform(EncrAESCCM12, 128),
				PRFTransform(PRFHMACSHA2256),
				DHTransform(ECP256),
			}}}},
			&KE{Group: ECP256, Data: mustHex(t, `32c6dffe5c43b0d5811f7eaaa84c9f78bf99b9069c2b072e0b82f46bf6f66dd4
				5f97ef89ee285fd5df527a44776b529fc9d8a909d842a6fb59b96a0953956172`)},
			&Nonce{Data: mustHex(t, "b655462d6f4b66f872ccd7f0f4b4857732921339cbaa5237edba244f262b6823")},
			&Notify{Type: NATDetectionSourceIP, Data: mustHex(t, "949c9db5739d75a974a49c184618369b34b7f942")},
			&Notify{Type: NATDetectionDestinationIP, Data: mustHex(t, "3e721b46be07d53111425d7f80d2c6e220c6072e")},
			NewSignatureHashAlgorithms(HashSHA1, HashSHA2_256, HashSHA2_384, HashSHA2_512),
		},
	}
	got, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("built\n%x\nwant\n%x", got, want)
	}
	// And the parsed message equals what was built.
	p, err := Parse(got)
	if err != nil {
		t.Fatal(err)
	}
	m.NextPayload, m.Version, m.Length = PayloadSA, Version, uint32(len(want))
	if !equalMessages(p, m) {
		t.Errorf("parsed %v, built %v", p, m)
	}
}

// TestVectorDetails reads fields of the captured messages.
func TestVectorDetails(t *testing.T) {
	m, err := Parse(readVector(t, "wiki-ike_sa_init-request.hex"))
	if err != nil {
		t.Fatal(err)
	}
	sa, _ := Find[*SA](m.Payloads)
	if got, want := sa.Proposals[0].String(), "#1 IKE: ENCR_AES_GCM_16 keylen=256, PRF_HMAC_SHA2_256, ECP_256"; got != want {
		t.Errorf("proposal %q, want %q", got, want)
	}
	ke, _ := Find[*KE](m.Payloads)
	if ke.Group != ECP256 || len(ke.Data) != 64 {
		t.Errorf("KE group %v, %d octets", ke.Group, len(ke.Data))
	}
	n, _ := Find[*Nonce](m.Payloads)
	if len(n.Data) != 40 {
		t.Errorf("nonce of %d octets", len(n.Data))
	}
	sha, ok := FindNotify(m.Payloads, SignatureHashAlgorithms)
	hs, _ := sha.HashAlgorithms()
	if !ok || len(hs) != 4 || hs[0] != HashSHA1 || hs[3] != HashSHA2_512 {
		t.Errorf("SIGNATURE_HASH_ALGORITHMS %v", hs)
	}
	if vids := FindAll[*VendorID](m.Payloads); len(vids) != 4 || len(vids[3].Data) != 16 {
		t.Errorf("vendor IDs %v", vids)
	}

	m, err = Parse(readVector(t, "ccm12-informational-request.hex"))
	if err != nil {
		t.Fatal(err)
	}
	sk := m.Payloads[0].(*SK)
	if sk.FirstPayload != PayloadDelete || len(sk.Data) != 29 {
		t.Errorf("SK first %v, %d octets", sk.FirstPayload, len(sk.Data))
	}
	if m.MessageID != 2 || !m.IsInitiator() || m.SPIr != 0xd9fe2ab22dac23ac {
		t.Errorf("header %v", &m.Header)
	}
}

// TestRFC7634AppendixB decrypts the SK payload of RFC 7634's example with
// the published key, reads the inner Notify, then rebuilds the message
// through MarshalPayloads, Marshal, SplitEncrypted and an in-place Seal.
func TestRFC7634AppendixB(t *testing.T) {
	vector := readVector(t, "rfc7634-appendix-b.hex")
	key := mustHex(t, "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f")
	salt := mustHex(t, "a0a1a2a3")
	aead, err := chacha20poly1305.New(key)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Parse(bytes.Clone(vector))
	if err != nil {
		t.Fatal(err)
	}
	sk, ok := Find[*SK](m.Payloads)
	if !ok || sk.FirstPayload != PayloadNotify {
		t.Fatalf("payloads %v", m)
	}
	aad, body, err := SplitEncrypted(m.Raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(aad) != HeaderLen+4 || !bytes.Equal(body, sk.Data) {
		t.Fatalf("aad %d octets, body %x", len(aad), body)
	}
	// RFC 7634 §2: nonce = salt | IV.
	iv, ct := body[:8], body[8:]
	plain, err := aead.Open(nil, append(bytes.Clone(salt), iv...), ct, aad)
	if err != nil {
		t.Fatal(err)
	}
	padLen := int(plain[len(plain)-1])
	inner, err := ParsePayloads(sk.FirstPayload, plain[:len(plain)-1-padLen])
	if err != nil {
		t.Fatal(err)
	}
	n, ok := FindNotify(inner, SetWindowSize)
	if len(inner) != 1 || !ok || !bytes.Equal(n.Data, []byte{0, 0, 0, 10}) {
		t.Fatalf("inner payloads %s", Summary(inner))
	}
	if err := Check(Informational, false, inner); err != nil {
		t.Error(err)
	}

	// Outbound: the same message from its parts.
	first, pt, err := MarshalPayloads([]Payload{&Notify{Type: SetWindowSize, Data: []byte{0, 0, 0, 10}}})
	if err != nil {
		t.Fatal(err)
	}
	pt = append(pt, 0) // Pad Length
	out := &Message{
		Header:   Header{SPIi: 0xc0c1c2c3c4c5c6c7, SPIr: 0xd0d1d2d3d4d5d6d7, Exchange: Informational, MessageID: 9},
		Payloads: []Payload{&SK{FirstPayload: first, Data: make([]byte, 8+len(pt)+aead.Overhead())}},
	}
	b, err := out.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	aad, body, err = SplitEncrypted(b)
	if err != nil {
		t.Fatal(err)
	}
	copy(body, iv)
	aead.Seal(body[8:8], append(bytes.Clone(salt), iv...), pt, aad)
	if !bytes.Equal(b, vector) {
		t.Errorf("rebuilt\n%x\nwant\n%x", b, vector)
	}
}

// TestSplitEncryptedSKF checks that the fragment fields are associated
// data (RFC 7383).
func TestSplitEncryptedSKF(t *testing.T) {
	m := &Message{Header: Header{SPIi: 1, SPIr: 2, Exchange: IKEAuth, Flags: FlagInitiator, MessageID: 1},
		Payloads: []Payload{&SKF{FirstPayload: PayloadIDi, FragmentNumber: 1, TotalFragments: 2, Data: []byte{1, 2, 3}}}}
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	aad, body, err := SplitEncrypted(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(aad) != HeaderLen+8 || !bytes.Equal(body, []byte{1, 2, 3}) {
		t.Errorf("aad %x body %x", aad, body)
	}
	for _, bad := range [][]byte{b[:20], b[:len(b)-1], readVector(t, "ccm12-ike_sa_init-request.hex")} {
		if _, _, err := SplitEncrypted(bad); !errors.Is(err, InvalidSyntax) {
			t.Errorf("SplitEncrypted(%x) = %v", bad, err)
		}
	}
}
