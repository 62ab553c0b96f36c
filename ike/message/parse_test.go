package message

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// pl encodes one payload in hex: generic header (next payload, flags,
// length) and body.
func pl(next PayloadType, flags byte, body string) string {
	body = strings.Join(strings.Fields(body), "")
	return fmt.Sprintf("%02x%02x%04x", byte(next), flags, 4+len(body)/2) + body
}

// msg wraps a payload chain in an IKE header with the right Length.
func msg(t testing.TB, version byte, first PayloadType, chain string) []byte {
	t.Helper()
	b := mustHex(t, chain)
	h := fmt.Sprintf("0102030405060708 0000000000000000 %02x%02x2208 00000000 %08x", byte(first), version, HeaderLen+len(b))
	return append(mustHex(t, h), b...)
}

var nonce16 = strings.Repeat("ab", 16)

func TestParseHeader(t *testing.T) {
	good := msg(t, 0x20, PayloadNonce, pl(0, 0, nonce16))
	for _, c := range []struct {
		name   string
		b      []byte
		notify NotifyType
		reason string
	}{
		{"short", good[:27], InvalidSyntax, "shorter than the 28-octet IKE header"},
		{"IKEv1", msg(t, 0x10, PayloadNonce, pl(0, 0, nonce16)), InvalidMajorVersion, "version 1.0"},
		{"IKEv3", msg(t, 0x30, PayloadNonce, pl(0, 0, nonce16)), InvalidMajorVersion, "version 3.0"},
		{"long datagram", append(bytes.Clone(good), 0), InvalidSyntax, "Length 48 in a message of 49 octets"},
		{"Length too big", append(bytes.Clone(good[:24]), append([]byte{0, 0, 0, 49}, good[28:]...)...), InvalidSyntax, "Length 49"},
		{"payload beyond", msg(t, 0x20, PayloadNonce, "0000 0030"+nonce16), InvalidSyntax, "length 48 but only 20 octets left"},
		{"trailing octets", msg(t, 0x20, PayloadNonce, pl(0, 0, nonce16)+"00"), InvalidSyntax, "1 octets after the last payload"},
		{"no payload, octets", msg(t, 0x20, PayloadNone, "00000004"), InvalidSyntax, "4 octets after the last payload"},
		{"payload after SK", msg(t, 0x20, PayloadSK, pl(PayloadIDi, 0, "0102")+pl(0, 0, nonce16)), InvalidSyntax, "which must be last"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse(c.b)
			var ne *NotifyError
			if !errors.As(err, &ne) || ne.Type != c.notify || !strings.Contains(ne.Reason, c.reason) {
				t.Fatalf("Parse: %v, want %v %q", err, c.notify, c.reason)
			}
			if !errors.Is(err, c.notify) {
				t.Errorf("errors.Is(%v, %v) false", err, c.notify)
			}
		})
	}
	// The minor version and the X flag bits are ignored (RFC 7296 §3.1).
	b := msg(t, 0x2f, PayloadNonce, pl(0, 0, nonce16))
	b[19] = 0xff
	m, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if m.Version != 0x2f || m.Flags != 0xff || !m.IsResponse() || !m.IsInitiator() {
		t.Errorf("header %+v", m.Header)
	}
	// An empty message (INFORMATIONAL liveness check outside SK is not
	// valid, but the codec reads it).
	if m, err := Parse(msg(t, 0x20, PayloadNone, "")); err != nil || len(m.Payloads) != 0 {
		t.Errorf("empty message: %v %v", m, err)
	}
}

// TestCritical covers RFC 7296 §2.5: unknown payloads are skipped unless
// critical; known payloads ignore the critical bit.
func TestCritical(t *testing.T) {
	// N, an unknown non-critical payload 200, then a Nonce.
	b := msg(t, 0x20, PayloadNotify, pl(200, 0, "00004000")+pl(PayloadNonce, 0x7f, "c0ffee")+pl(0, 0, nonce16))
	m, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	u, ok := Find[*Unknown](m.Payloads)
	if !ok || u.Type != 200 || u.Critical || !bytes.Equal(u.Data, []byte{0xc0, 0xff, 0xee}) || len(m.Payloads) != 3 {
		t.Fatalf("payloads %v, unknown %+v", m, u)
	}
	// Marshal writes the reserved bits of the generic header as zero.
	b[HeaderLen+9] = 0
	if out, err := m.Marshal(); err != nil || !bytes.Equal(out, b) {
		t.Errorf("Marshal %x, %v", out, err)
	}
	if err := Check(IKESAInit, false, append(m.Payloads, payloadCases[0].p, &KE{})); err != nil {
		t.Errorf("Check with an unknown payload: %v", err)
	}

	// The same payload with the critical bit set rejects the message, with
	// the payload type as notification data.
	for _, critical := range []string{
		pl(200, 0, "00004000") + pl(PayloadNonce, 0x80, "c0ffee") + pl(0, 0, nonce16),
		pl(49, 0, "00004000") + pl(0, 0x80, ""), // GSPM: known by name, not parsed
	} {
		b = msg(t, 0x20, PayloadNotify, critical)
		_, err = Parse(b)
		var ne *NotifyError
		if !errors.As(err, &ne) || ne.Type != UnsupportedCriticalPayload || len(ne.Data) != 1 || ne.Data[0] != b[HeaderLen] {
			t.Errorf("critical unknown: %v", err)
		}
		if n := ne.Notify(); n.Type != UnsupportedCriticalPayload || !bytes.Equal(n.Data, ne.Data) {
			t.Errorf("answer %+v", n)
		}
	}
	// Inside SK too.
	if _, err := ParsePayloads(250, mustHex(t, pl(0, 0x80, ""))); !errors.Is(err, UnsupportedCriticalPayload) {
		t.Errorf("critical unknown inner payload: %v", err)
	}

	// A known payload with the critical bit set is parsed; Marshal clears
	// the bit, as RFC 7296 §3.2 wants for the types it defines.
	b = msg(t, 0x20, PayloadNonce, pl(0, 0x80, nonce16))
	m, err = Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := m.Marshal()
	if out[HeaderLen+1] != 0 || !equalMessages(mustParse(t, out), m) {
		t.Errorf("critical bit of a known payload: %x", out)
	}
	// Unknown critical payloads are built as such.
	m.Payloads = append(m.Payloads, &Unknown{Type: 222, Critical: true})
	out, _ = m.Marshal()
	if _, err := Parse(out); !errors.Is(err, UnsupportedCriticalPayload) {
		t.Errorf("built critical payload: %v", err)
	}
}

func mustParse(t testing.TB, b []byte) *Message {
	t.Helper()
	m, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// malformed are payload chains ParsePayloads must refuse, with the reason.
var malformed = []struct {
	name   string
	first  PayloadType
	chain  string
	notify NotifyType
	reason string
}{
	{"header truncated", PayloadNonce, "0000", InvalidSyntax, "truncated header"},
	{"length < 4", PayloadNonce, "00000003", InvalidSyntax, "length 3 shorter than its 4-octet header"},
	{"SK inside SK", PayloadSK, pl(0, 0, "01"), InvalidSyntax, "SK inside an encrypted payload"},
	{"SKF inside SK", PayloadSKF, pl(0, 0, "00010001"), InvalidSyntax, "SKF inside an encrypted payload"},

	{"SA empty", PayloadSA, pl(0, 0, ""), InvalidSyntax, "no proposal"},
	{"SA bad last", PayloadSA, pl(0, 0, "01000010 01010001 00000008 02000002"), InvalidSyntax, "Last Substruc 1, want 0 or 2"},
	{"SA more but none", PayloadSA, pl(0, 0, "02000010 01010001 00000008 02000002"), InvalidSyntax, "marked as followed by more"},
	{"SA after last", PayloadSA, pl(0, 0, "00000010 01010001 00000008 02000002 00000010 02010001 00000008 02000002"), InvalidSyntax, "proposal 2 follows one marked last"},
	{"SA proposal 0", PayloadSA, pl(0, 0, "00000010 00010001 00000008 02000002"), InvalidSyntax, "proposal 1: number 0"},
	{"SA numbering gap", PayloadSA, pl(0, 0, "02000010 01010001 00000008 02000002 00000010 03010001 00000008 02000002"), InvalidSyntax, "number 3 after 1"},
	{"SA proposal short", PayloadSA, pl(0, 0, "00000007 010100"), InvalidSyntax, "proposal 1: truncated"},
	{"SA proposal length", PayloadSA, pl(0, 0, "00000020 01010001 00000008 02000002"), InvalidSyntax, "length 32 but only 16 octets left"},
	{"SA SPI size", PayloadSA, pl(0, 0, "00000010 01010901 00000008 02000002"), InvalidSyntax, "SPI size 9 but 8 octets left"},
	{"SA count", PayloadSA, pl(0, 0, "00000010 01010002 00000008 02000002"), InvalidSyntax, "Num Transforms 2 but 1 transforms"},
	{"SA no transform", PayloadSA, pl(0, 0, "00000008 01010000"), InvalidSyntax, "no transform"},
	{"SA transform bad last", PayloadSA, pl(0, 0, "00000010 01010001 02000008 02000002"), InvalidSyntax, "Last Substruc 2, want 0 or 3"},
	{"SA transform more but none", PayloadSA, pl(0, 0, "00000010 01010001 03000008 02000002"), InvalidSyntax, "last transform (1) marked"},
	{"SA transform after last", PayloadSA, pl(0, 0, "00000018 01010002 00000008 02000002 00000008 02000002"), InvalidSyntax, "transform 2 follows one marked last"},
	{"SA transform short", PayloadSA, pl(0, 0, "0000000e 01010001 00000006 0200"), InvalidSyntax, "transform 1: truncated"},
	{"SA TV truncated", PayloadSA, pl(0, 0, "00000012 01010001 0000000a 0100000c 800e"), InvalidSyntax, "TV value truncated"},
	{"SA TLV truncated", PayloadSA, pl(0, 0, "00000014 01010001 0000000c 0100000c 00640005"), InvalidSyntax, "TLV value truncated"},
	{"SA attribute truncated", PayloadSA, pl(0, 0, "00000011 01010001 00000009 0100000c 80"), InvalidSyntax, "attribute 1: truncated"},
	{"SA TLV key length", PayloadSA, pl(0, 0, "00000016 01010001 0000000e 0100000c 000e00020080"), InvalidSyntax, "Key Length attribute in TLV format"},
	{"SA duplicate attribute", PayloadSA, pl(0, 0, "00000018 01010001 00000010 0100000c 800e0080 800e0100"), InvalidSyntax, "two Key Length attributes"},
	{"SA ESP SPI", PayloadSA, pl(0, 0, "00000018 01030801 0102030405060708 00000008 05000000"), InvalidSyntax, "ESP SPI size 8, want 4"},
	{"SA IKE SPI", PayloadSA, pl(0, 0, "00000014 01010401 01020304 00000008 02000002"), InvalidSyntax, "IKE SPI size 4, want 0 or 8"},

	{"KE short", PayloadKE, pl(0, 0, "0013"), InvalidSyntax, "truncated"},
	{"KE empty", PayloadKE, pl(0, 0, "00130000"), InvalidSyntax, "no Key Exchange Data"},
	{"ID short", PayloadIDi, pl(0, 0, "020000"), InvalidSyntax, "truncated"},
	{"ID IPv4 length", PayloadIDr, pl(0, 0, "01000000 0a0000"), InvalidSyntax, "ID_IPV4_ADDR of 3 octets"},
	{"ID IPv6 length", PayloadIDi, pl(0, 0, "05000000 0a000001"), InvalidSyntax, "ID_IPV6_ADDR of 4 octets"},
	{"CERT empty", PayloadCERT, pl(0, 0, ""), InvalidSyntax, "no Cert Encoding"},
	{"CERTREQ empty", PayloadCERTREQ, pl(0, 0, ""), InvalidSyntax, "no Cert Encoding"},
	{"AUTH short", PayloadAUTH, pl(0, 0, "0200"), InvalidSyntax, "truncated"},
	{"Nonce short", PayloadNonce, pl(0, 0, strings.Repeat("00", 15)), InvalidSyntax, "nonce of 15 octets"},
	{"Nonce long", PayloadNonce, pl(0, 0, strings.Repeat("00", 257)), InvalidSyntax, "nonce of 257 octets"},

	{"N short", PayloadNotify, pl(0, 0, "000040"), InvalidSyntax, "truncated"},
	{"N SPI beyond", PayloadNotify, pl(0, 0, "03044009 0102"), InvalidSyntax, "SPI size 4 but 2 octets left"},
	{"N SPI size 3", PayloadNotify, pl(0, 0, "03034009 010203"), InvalidSyntax, "SPI size 3"},
	{"N SPI protocol", PayloadNotify, pl(0, 0, "01044009 01020304"), InvalidSyntax, "4-octet SPI for protocol IKE"},
	{"N REKEY_SA without SPI", PayloadNotify, pl(0, 0, "00004009"), InvalidSyntax, "REKEY_SA: SPI size 0, want 4"},
	{"N NAT-D length", PayloadNotify, pl(0, 0, "00004004"+strings.Repeat("00", 19)), InvalidSyntax, "19 octets of data, want 20"},
	{"N COOKIE empty", PayloadNotify, pl(0, 0, "00004006"), InvalidSyntax, "want 1 to 64"},
	{"N COOKIE long", PayloadNotify, pl(0, 0, "00004006"+strings.Repeat("00", 65)), InvalidSyntax, "65 octets of data, want 1 to 64"},
	{"N INVALID_KE_PAYLOAD", PayloadNotify, pl(0, 0, "00000011 001300"), InvalidSyntax, "INVALID_KE_PAYLOAD: 3 octets"},
	{"N SIGNATURE_HASH", PayloadNotify, pl(0, 0, "0000402f 000100"), InvalidSyntax, "odd data length 3"},

	{"D short", PayloadDelete, pl(0, 0, "030400"), InvalidSyntax, "truncated"},
	{"D protocol", PayloadDelete, pl(0, 0, "04040001 01020304"), InvalidSyntax, "protocol PROTO_4"},
	{"D ESP size", PayloadDelete, pl(0, 0, "03080001 0102030405060708"), InvalidSyntax, "ESP SPI size 8, want 4"},
	{"D count", PayloadDelete, pl(0, 0, "03040002 01020304"), InvalidSyntax, "Num of SPIs 2 but room for 1"},
	{"D trailing", PayloadDelete, pl(0, 0, "03040001 01020304 05"), InvalidSyntax, "1 octets after 1 SPIs"},
	{"D IKE with SPIs", PayloadDelete, pl(0, 0, "01000001"), InvalidSyntax, "IKE SA deletion with SPI size 0 and 1 SPIs"},

	{"TS short", PayloadTSi, pl(0, 0, "010000"), InvalidSyntax, "truncated"},
	{"TS none", PayloadTSi, pl(0, 0, "00000000"), InvalidSyntax, "no traffic selector"},
	{"TS count", PayloadTSr, pl(0, 0, "02000000 07000010 0000ffff 0a000000 0a0000ff"), InvalidSyntax, "Number of TSs 2 but 1 selectors"},
	{"TS v4 length", PayloadTSi, pl(0, 0, "01000000 07000014 0000ffff 0a000000 0a0000ff 00000000"), InvalidSyntax, "TS_IPV4_ADDR_RANGE of length 20, want 16"},
	{"TS v6 length", PayloadTSi, pl(0, 0, "01000000 08000010 0000ffff 0a000000 0a0000ff"), InvalidSyntax, "TS_IPV6_ADDR_RANGE of length 16, want 40"},
	{"TS selector beyond", PayloadTSi, pl(0, 0, "01000000 07000010 0000ffff"), InvalidSyntax, "selector 1: length 16 but only 8 octets left"},
	{"TS start after end", PayloadTSi, pl(0, 0, "01000000 07000010 0000ffff 0a0000ff 0a000000"), InvalidSyntax, "start address 10.0.0.255 after end address 10.0.0.0"},
	{"TS ports", PayloadTSi, pl(0, 0, "01000000 07060010 00500010 0a000000 0a0000ff"), InvalidSyntax, "start port 80 after end port 16"},

	{"CP short", PayloadCP, pl(0, 0, "0100"), InvalidSyntax, "truncated"},
	{"CP attribute truncated", PayloadCP, pl(0, 0, "02000000 00010004 0a00"), InvalidSyntax, "attribute 1 truncated"},
	{"CP address length", PayloadCP, pl(0, 0, "02000000 00010003 0a0000"), InvalidSyntax, "INTERNAL_IP4_ADDRESS): 3 octets, want 0 or 4"},
	{"CP IPv6 address length", PayloadCP, pl(0, 0, "02000000 00080010 20010db8000000000000000000000001"), InvalidSyntax, "16 octets, want 0 or 17"},
	{"CP supported attributes", PayloadCP, pl(0, 0, "02000000 000e0001 01"), InvalidSyntax, "odd length 1"},

	{"EAP short", PayloadEAP, pl(0, 0, "0101"), InvalidSyntax, "EAP message of 2 octets"},
	{"EAP length", PayloadEAP, pl(0, 0, "01010009 01"), InvalidSyntax, "EAP Length 9 in 5 octets"},
	{"EAP no type", PayloadEAP, pl(0, 0, "01010004"), InvalidSyntax, "EAP code 1 without a Type"},
	{"EAP success data", PayloadEAP, pl(0, 0, "03010005 00"), InvalidSyntax, "EAP code 3 with 1 octets"},
	{"EAP code", PayloadEAP, pl(0, 0, "05010004"), InvalidSyntax, "EAP code 5"},
}

func TestMalformedPayloads(t *testing.T) {
	for _, c := range malformed {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParsePayloads(c.first, mustHex(t, c.chain))
			var ne *NotifyError
			if !errors.As(err, &ne) || ne.Type != c.notify || !strings.Contains(ne.Reason, c.reason) {
				t.Fatalf("ParsePayloads: %v, want %v %q", err, c.notify, c.reason)
			}
			// The same payload in a message fails the same way.
			if c.first != PayloadSK && c.first != PayloadSKF {
				if _, err := Parse(msg(t, 0x20, c.first, c.chain)); !errors.Is(err, c.notify) {
					t.Errorf("Parse: %v", err)
				}
			}
		})
	}
}

func TestMalformedSKF(t *testing.T) {
	for _, c := range []struct {
		chain, reason string
	}{
		{pl(PayloadIDi, 0, "0000 0002 00"), "fragment 0 of 2"},
		{pl(PayloadIDi, 0, "0001 0000 00"), "fragment 1 of 0"},
		{pl(PayloadIDi, 0, "0003 0002 00"), "fragment 3 of 2"},
		{pl(PayloadIDi, 0, "0002 0002 00"), "fragment 2 names a first payload (IDi)"},
		{pl(PayloadIDi, 0, "0002"), "truncated"},
	} {
		_, err := Parse(msg(t, 0x20, PayloadSKF, c.chain))
		if !errors.Is(err, InvalidSyntax) || !strings.Contains(err.Error(), c.reason) {
			t.Errorf("SKF %s: %v, want %q", c.chain, err, c.reason)
		}
	}
	m := mustParse(t, msg(t, 0x20, PayloadSKF, pl(PayloadNone, 0, "0002 0003 aabbcc")))
	if f, ok := Find[*SKF](m.Payloads); !ok || f.FragmentNumber != 2 || f.TotalFragments != 3 || !bytes.Equal(f.Data, []byte{0xaa, 0xbb, 0xcc}) {
		t.Errorf("SKF %+v", m.Payloads[0])
	}
}

// messagesForTruncation are complete messages: the captures and one built
// message holding every payload type.
func messagesForTruncation(t testing.TB) [][]byte {
	var all [][]byte
	for _, v := range vectors {
		all = append(all, readVector(t, v.file))
	}
	var payloads []Payload
	for _, c := range payloadCases {
		if c.p.PayloadType() != PayloadSK && c.p.PayloadType() != PayloadSKF {
			payloads = append(payloads, c.p)
		}
	}
	for _, last := range []Payload{&SK{FirstPayload: PayloadIDi, Data: []byte{1, 2, 3}}, &SKF{FirstPayload: PayloadIDi, FragmentNumber: 1, TotalFragments: 1, Data: []byte{4}}} {
		m := &Message{Header: Header{SPIi: 1, SPIr: 2, Exchange: IKEAuth}, Payloads: append(payloads, last)}
		b, err := m.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b)
	}
	return all
}

// TestTruncation cuts every message at every length, as datagrams with
// their original Length and with Length patched to match, and every inner
// chain at every length: each must fail with a NotifyError, never panic.
func TestTruncation(t *testing.T) {
	for _, b := range messagesForTruncation(t) {
		for i := range len(b) {
			cut := bytes.Clone(b[:i])
			if _, err := Parse(cut); !isNotifyError(err) {
				t.Fatalf("Parse(%x) = %v", cut, err)
			}
			if i >= HeaderLen {
				cut[24], cut[25], cut[26], cut[27] = 0, 0, byte(i>>8), byte(i)
				if _, err := Parse(cut); !isNotifyError(err) {
					t.Fatalf("Parse(%x) with Length %d = %v", cut, i, err)
				}
				if _, _, err := SplitEncrypted(cut); err == nil {
					t.Fatalf("SplitEncrypted(%x) succeeded", cut)
				}
			}
			Dump(io.Discard, cut)
		}
	}
	// Inner chains.
	for _, c := range payloadCases {
		if c.p.PayloadType() == PayloadSK || c.p.PayloadType() == PayloadSKF {
			continue
		}
		first, b, err := MarshalPayloads([]Payload{c.p, &Nonce{Data: make([]byte, 16)}})
		if err != nil {
			t.Fatal(err)
		}
		for i := range len(b) {
			if _, err := ParsePayloads(first, b[:i]); !isNotifyError(err) {
				t.Fatalf("%s: ParsePayloads(%x) = %v", c.name, b[:i], err)
			}
			DumpPayloads(io.Discard, first, b[:i])
		}
	}
}

func isNotifyError(err error) bool {
	var ne *NotifyError
	return errors.As(err, &ne)
}

func TestErrorText(t *testing.T) {
	_, err := ParsePayloads(PayloadSA, mustHex(t, pl(0, 0, "02000010 01010001 00000008 02000002 00000010 03010001 00000008 02000002")))
	want := "ike/message: INVALID_SYNTAX: payload 1 (SA): proposal 2: number 3 after 1"
	if err == nil || err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	_, err = ParsePayloads(PayloadNotify, mustHex(t, pl(PayloadSA, 0, "00004000")+pl(0, 0, "0000000e 01010001 00000006 0200")))
	want = "ike/message: INVALID_SYNTAX: payload 2 (SA): proposal 1: transform 1: truncated (2 octets)"
	if err == nil || err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}
