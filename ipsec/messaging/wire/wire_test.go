package wire

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sabre-ipsec/sabre/classify"
	"github.com/sabre-ipsec/sabre/ipsec"
	"github.com/sabre-ipsec/sabre/ipsec/messaging"
	"github.com/sabre-ipsec/sabre/sad"
	"github.com/sabre-ipsec/sabre/spd"
	"github.com/sabre-ipsec/sabre/suite"
	"github.com/sabre-ipsec/sabre/xe"
)

var updateWireCorpus = flag.Bool("update-wire-corpus", false, "rewrite testdata/fuzz/FuzzDecodeMessage from the sample messages")

func wirePolicy() spd.Policy {
	return spd.Policy{
		ID: 7, Name: "web", Action: spd.Secure, Mode: spd.Tunnel, Priority: 3, Proto: 6,
		Src:   classify.MustParseSelector("10.1.0.0/24,80"),
		Dst:   classify.MustParseSelector("10.2.0.1-10.2.0.9,1000-2000"),
		Flags: spd.FlagProtoESP | spd.FlagCheckReplay | spd.FlagDFCopy, TunnelLocal: mustAddr("192.0.2.1"),
		TunnelRemote: mustAddr("192.0.2.2"), RemoteName: "peer.example",
		ESPAlgorithms: []string{"aes128gcm16", "chacha20poly1305"}, AHAlgorithms: []string{"sha256"},
		Lifetime: 90 * time.Minute, RekeyTime: 75 * time.Minute, ReplayWindow: 128,
	}
}

func wirePolicy6() spd.Policy {
	return spd.Policy{
		ID: 1 << 31, Action: spd.Bypass, Priority: 1, Proto: 58,
		Src: classify.MustParseSelector("any6"), Dst: classify.MustParseSelector("2001:db8::/32,0-0"),
		Lifetime: time.Hour, ReplayWindow: 64,
	}
}

func wireManualSA() ipsec.ManualSA {
	return ipsec.ManualSA{
		Encr: suite.EncrAESCBC, EncrKeyIn: key(16, 1), EncrKeyOut: key(16, 2),
		Integ: suite.IntegHMACSHA256128, IntegKeyIn: key(32, 3), IntegKeyOut: key(32, 4),
		ESPSPIIn: 0x1001, ESPSPIOut: 0x2002, AHSPIIn: 0x3003, AHSPIOut: 0xfffffffe, ESN: true, ReplayWindow: 1024,
		Local: mustAddr("2001:db8::1"), Remote: mustAddr("2001:db8::2"), Only: sad.Outbound,
		Encap: &sad.UDPEncap{SrcPort: 4500, DstPort: 4501},
		Soft:  sad.Lifetime{Bytes: 1 << 40, Packets: 1000, Time: 50 * time.Minute},
		Hard:  sad.Lifetime{Bytes: 1 << 41, Packets: 2000, Time: time.Hour},
	}
}

// wireRequests holds one request of each type (and a few variants).
func wireRequests() []Request {
	p6 := wirePolicy6()
	p6.ID = 0
	return []Request{
		AppRegisterRequest{Name: "ike"},
		AppRegisterRequest{},
		ClonePolicyRequest{PolicyID: 7, Src: classify.MustParseSelector("10.1.0.5"), Dst: classify.MustParseSelector("10.2.0.0/28,443")},
		InitialContactRequest{Remote: mustAddr("192.0.2.2")},
		InitialContactRequest{Remote: mustAddr("::ffff:192.0.2.2")},
		DeleteSPIsRequest{Dst: mustAddr("192.0.2.1"), Protocol: sad.ProtocolAny, SPIs: []uint32{0x1000, 0xdeadbeef}},
		DeleteSPIsRequest{Dst: mustAddr("2001:db8::9"), Protocol: sad.AH},
		GetSPIRequest{PolicyID: 3, Protocol: sad.ESP, Dst: mustAddr("192.0.2.1")},
		GetSPIRequest{PolicyID: 3, Protocol: sad.AH},
		AcquireFailRequest{PolicyID: 12},
		AddSARequest{PolicyID: 7, SA: wireManualSA()},
		AddSARequest{PolicyID: 8, SA: ipsec.ManualSA{Encr: suite.EncrAESGCM16, EncrKeyIn: key(20, 5), EncrKeyOut: key(20, 6), ESPSPIIn: 300, ESPSPIOut: 301}},
		GetPolicyRequest{PolicyID: 7},
		GetPoliciesRequest{After: 0},
		LookupPolicyRequest{Direction: spd.Inbound, Key: classify.Packet{Src: mustAddr("10.2.0.1"), Dst: mustAddr("10.1.0.1"), Proto: 17, SrcPort: 53, DstPort: 33000}},
		LookupPolicyRequest{Direction: spd.Outbound, Key: classify.Packet{Src: mustAddr("2001:db8::1"), Dst: mustAddr("2001:db8::2"), Proto: 58, SrcPort: 128}},
		SAFlushRequest{},
		AddPolicyRequest{Policy: wirePolicy()},
		AddPolicyRequest{Policy: p6},
		DelPolicyRequest{PolicyID: 7},
		GetSARequest{PolicyID: 7},
		DelSARequest{PolicyID: 7},
		FlushSPDRequest{},
	}
}

type wireReplyCase struct {
	t     messaging.MsgType
	reply Reply
	err   error
}

func wireReplies() []wireReplyCase {
	return []wireReplyCase{
		{t: messaging.MsgAppRegister, reply: AppRegisterReply{ID: 4}},
		{t: messaging.MsgClonePolicy, reply: PolicyIDReply{PolicyID: 9}},
		{t: messaging.MsgInitialContact, reply: CountReply{Count: 2}},
		{t: messaging.MsgDeleteSPIs, reply: CountReply{Count: 1}},
		{t: messaging.MsgGetSPI, reply: GetSPIReply{SPI: 0xc0ffee}},
		{t: messaging.MsgAcquireFail},
		{t: messaging.MsgAddSA},
		{t: messaging.MsgGetPolicy, reply: PolicyReply{Policy: wirePolicy()}},
		{t: messaging.MsgGetPolicies, reply: PolicyReply{Policy: wirePolicy6()}},
		{t: messaging.MsgLookupPolicy, reply: PolicyReply{Policy: wirePolicy()}},
		{t: messaging.MsgSAFlush, reply: CountReply{Count: 0}},
		{t: messaging.MsgAddPolicy, reply: PolicyIDReply{PolicyID: 10}},
		{t: messaging.MsgDelPolicy},
		{t: messaging.MsgGetSA, reply: GetSAReply{SAs: []SAInfo{
			{SPI: 0x1000, Protocol: sad.ESP, Direction: sad.Inbound, Mode: sad.Tunnel, State: sad.Mature, ESN: true,
				Local: mustAddr("192.0.2.1"), Remote: mustAddr("192.0.2.2"), Encap: &sad.UDPEncap{SrcPort: 4500, DstPort: 4500},
				Algorithm: "aes128gcm16", Sequence: 1 << 33, Packets: 10, Bytes: 1500, ReplayDrops: 1, ICVFailures: 2},
			{SPI: 0x2000, Protocol: sad.AH, Direction: sad.Outbound, Mode: sad.Transport, State: sad.Dying,
				Local: mustAddr("2001:db8::1"), Remote: mustAddr("2001:db8::2"), Algorithm: "hmac-sha256-128", Sequence: 9},
		}}},
		{t: messaging.MsgGetSA, reply: GetSAReply{}},
		{t: messaging.MsgDelSA, reply: CountReply{Count: 4}},
		{t: messaging.MsgFlushSPD, reply: CountReply{Count: 3}},
		{t: messaging.MsgPolicyAdded}, // an application's acknowledgement of an event
		{t: messaging.MsgDelPolicy, err: xe.Errorf(xe.PolicyNotFound, "policy 9")},
		{t: messaging.MsgGetSA, err: fmt.Errorf("looking: %w", xe.SANotFound)},
		{t: messaging.MsgType(99), err: xe.Errorf(xe.BadParam, "wire: type 99")},
	}
}

func wireEvents() []messaging.Event {
	p, p6 := wirePolicy(), wirePolicy6()
	return []messaging.Event{
		{Type: messaging.MsgAcquire, PolicyID: 7, Policy: &p, Key: classify.Packet{Src: mustAddr("10.1.0.5"), Dst: mustAddr("10.2.0.9"), Proto: 6, SrcPort: 80, DstPort: 1234}},
		{Type: messaging.MsgAcquire, PolicyID: 8},
		{Type: messaging.MsgSAExpired, PolicyID: 7, SPI: 0x1000, Protocol: sad.ESP, Direction: sad.Outbound, Dst: mustAddr("192.0.2.2"), Reason: "soft lifetime of 1000 bytes reached"},
		{Type: messaging.MsgSADeleted, PolicyID: 7, SPI: 0x1001, Protocol: sad.AH, Direction: sad.Inbound, Dst: mustAddr("2001:db8::1"), Hard: true, Reason: "hard lifetime of 1h0m0s reached"},
		{Type: messaging.MsgPolicyAdded, PolicyID: 7, Policy: &p},
		{Type: messaging.MsgPolicyDeleted, PolicyID: 1 << 31, Policy: &p6},
	}
}

// wireFrame is one sample message, for the truncation test and the fuzz
// corpus.
type wireFrame struct {
	name  string
	frame []byte
	body  []byte // unpadded
}

func wireFrames(t testing.TB) []wireFrame {
	t.Helper()
	var out []wireFrame
	for i, req := range wireRequests() {
		b, err := EncodeRequest(PartyIKE, uint8(i), req)
		if err != nil {
			t.Fatalf("%T: %v", req, err)
		}
		body, _ := requestBody(req)
		out = append(out, wireFrame{fmt.Sprintf("request-%02d-%v", i, req.MsgType()), b, body})
	}
	for i, c := range wireReplies() {
		m, err := replyMessage(c.t, PartyAdmin, uint8(i), c.reply, c.err)
		if err != nil {
			t.Fatalf("%v reply: %v", c.t, err)
		}
		b, err := m.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, wireFrame{fmt.Sprintf("reply-%02d-%v", i, c.t), b, m.Body})
	}
	for i, ev := range wireEvents() {
		b, err := EncodeEvent(Party(4), uint8(i), ev)
		if err != nil {
			t.Fatalf("%v: %v", ev.Type, err)
		}
		body, _ := eventBody(ev)
		out = append(out, wireFrame{fmt.Sprintf("event-%02d-%v", i, ev.Type), b, body})
	}
	return out
}

func checkFrameLength(t *testing.T, b []byte) {
	t.Helper()
	if len(b) < HeaderLen || (len(b)-HeaderLen)%4 != 0 || int(b[5])*4 != len(b)-HeaderLen || b[3] != 0 {
		t.Fatalf("frame % x: length octet %d for %d octets of data", b, b[5], len(b)-HeaderLen)
	}
}

func TestWireRequestRoundTrip(t *testing.T) {
	seen := map[messaging.MsgType]bool{}
	for i, req := range wireRequests() {
		b, err := EncodeRequest(PartyAdmin, uint8(100+i), req)
		if err != nil {
			t.Fatalf("%T: %v", req, err)
		}
		checkFrameLength(t, b)
		m, err := ParseMessage(b)
		if err != nil {
			t.Fatalf("%T: %v", req, err)
		}
		if m.Type != req.MsgType() || m.Src != PartyAdmin || m.Dst != PartyIPsec || m.Seq != uint8(100+i) || m.Reply || m.Status != xe.OK {
			t.Fatalf("%T: header %+v", req, m)
		}
		got, err := DecodeRequest(m)
		if err != nil {
			t.Fatalf("%T: %v", req, err)
		}
		if !reflect.DeepEqual(got, req) {
			t.Fatalf("%v round trip:\n got %#v\nwant %#v", m.Type, got, req)
		}
		seen[m.Type] = true
	}
	for typ := messaging.MsgAppRegister; typ <= messaging.MsgFlushSPD; typ++ {
		if !seen[typ] {
			t.Errorf("no %v request tested", typ)
		}
	}
}

func TestWireReplyRoundTrip(t *testing.T) {
	seen := map[messaging.MsgType]bool{}
	for i, c := range wireReplies() {
		req := &Message{Type: c.t, Src: PartyIKE, Dst: PartyIPsec, Seq: uint8(i)}
		b, err := EncodeReply(req, c.reply, c.err)
		if err != nil {
			t.Fatalf("%v: %v", c.t, err)
		}
		checkFrameLength(t, b)
		m, err := ParseMessage(b)
		if err != nil {
			t.Fatalf("%v: %v", c.t, err)
		}
		if m.Type != c.t || m.Src != PartyIPsec || m.Dst != PartyIKE || m.Seq != uint8(i) || !m.Reply {
			t.Fatalf("%v: header %+v", c.t, m)
		}
		got, err := DecodeReply(m)
		if c.err != nil {
			var se *StatusError
			want := xe.CodeOf(c.err)
			if !errors.As(err, &se) || m.Status != want || se.Code != want || !errors.Is(err, want) || got != nil {
				t.Fatalf("%v error reply: status %v, %v %v", c.t, m.Status, got, err)
			}
			if wantDetail := strings.TrimPrefix(c.err.Error(), want.Name()+": "); se.Detail != wantDetail {
				t.Fatalf("%v error reply: detail %q, want %q", c.t, se.Detail, wantDetail)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%v: %v", c.t, err)
		}
		if m.Status != xe.OK {
			t.Fatalf("%v: status %v", c.t, m.Status)
		}
		if c.reply == nil && len(b) != HeaderLen {
			t.Fatalf("%v: a reply without data is %d octets", c.t, len(b))
		}
		if !reflect.DeepEqual(got, c.reply) {
			t.Fatalf("%v round trip:\n got %#v\nwant %#v", c.t, got, c.reply)
		}
		seen[c.t] = true
	}
	for typ := messaging.MsgAppRegister; typ <= messaging.MsgFlushSPD; typ++ {
		if !seen[typ] {
			t.Errorf("no %v reply tested", typ)
		}
	}
	// A reply of the wrong kind is refused.
	if _, err := EncodeReply(&Message{Type: messaging.MsgGetSPI}, CountReply{}, nil); !errors.Is(err, xe.BadParam) {
		t.Fatalf("GET_SPI with a CountReply: %v", err)
	}
	if _, err := EncodeReply(&Message{Type: messaging.MsgGetSPI}, nil, nil); !errors.Is(err, xe.BadParam) {
		t.Fatalf("GET_SPI without data: %v", err)
	}
}

func TestWireEventRoundTrip(t *testing.T) {
	seen := map[messaging.MsgType]bool{}
	for i, ev := range wireEvents() {
		b, err := EncodeEvent(Party(5), uint8(i), ev)
		if err != nil {
			t.Fatalf("%v: %v", ev.Type, err)
		}
		checkFrameLength(t, b)
		m, err := ParseMessage(b)
		if err != nil {
			t.Fatalf("%v: %v", ev.Type, err)
		}
		if m.Type != ev.Type || m.Src != PartyIPsec || m.Dst != Party(5) || m.Seq != uint8(i) || m.Reply || m.Status != xe.OK {
			t.Fatalf("%v: header %+v", ev.Type, m)
		}
		got, err := DecodeEvent(m)
		if err != nil {
			t.Fatalf("%v: %v", ev.Type, err)
		}
		if !reflect.DeepEqual(got, ev) {
			t.Fatalf("%v round trip:\n got %#v\nwant %#v", ev.Type, got, ev)
		}
		seen[ev.Type] = true
	}
	for typ := messaging.MsgAcquire; typ <= messaging.MsgPolicyDeleted; typ++ {
		if !seen[typ] {
			t.Errorf("no %v event tested", typ)
		}
	}
	if _, err := EncodeEvent(Party(5), 0, messaging.Event{Type: messaging.MsgAddSA}); !errors.Is(err, xe.BadParam) {
		t.Fatalf("ADD_SA as an event: %v", err)
	}
	// A long reason is cut at 255 octets, between characters.
	long := messaging.Event{Type: messaging.MsgSADeleted, PolicyID: 1, SPI: 300, Protocol: sad.ESP, Direction: sad.Inbound, Reason: "x" + strings.Repeat("é", 200)}
	b, err := EncodeEvent(Party(5), 0, long)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := ParseMessage(b)
	got, err := DecodeEvent(m)
	if err != nil || len(got.Reason) != 255 || !strings.HasPrefix(long.Reason, got.Reason) {
		t.Fatalf("long reason: %d octets, %v", len(got.Reason), err)
	}
}

// decodeAny decodes m as what its header says it is.
func decodeAny(m *Message) (any, error) {
	switch {
	case m.Reply:
		return DecodeReply(m)
	case m.Type.IsEvent():
		return DecodeEvent(m)
	}
	return DecodeRequest(m)
}

// TestWireTruncated cuts every sample message at every length: the frame
// must not parse, and the unpadded data must not decode.
func TestWireTruncated(t *testing.T) {
	for _, f := range wireFrames(t) {
		for i := range len(f.frame) {
			if m, err := ParseMessage(f.frame[:i]); err == nil {
				t.Fatalf("%s cut at %d of %d octets parsed: %+v", f.name, i, len(f.frame), m)
			}
		}
		m, err := ParseMessage(f.frame)
		if err != nil {
			t.Fatalf("%s: %v", f.name, err)
		}
		var se *StatusError
		if _, err := decodeAny(m); err != nil && !errors.As(err, &se) {
			t.Fatalf("%s: %v", f.name, err)
		}
		for i := range len(f.body) {
			cut := *m
			cut.Body = f.body[:i]
			v, err := decodeAny(&cut)
			if err == nil || errors.As(err, &se) {
				t.Fatalf("%s: data cut at %d of %d octets decoded: %#v, %v", f.name, i, len(f.body), v, err)
			}
			if !strings.Contains(err.Error(), m.Type.String()) {
				t.Fatalf("%s: error does not name the message type: %v", f.name, err)
			}
		}
	}
}

func TestWireHeaderChecks(t *testing.T) {
	valid, err := EncodeRequest(PartyIKE, 1, AppRegisterRequest{Name: "ab"}) // 3 octets of data, 1 of padding
	if err != nil {
		t.Fatal(err)
	}
	if len(valid) != HeaderLen+4 || valid[5] != 1 {
		t.Fatalf("APP_REGISTER % x", valid)
	}
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(valid)) }
	for _, c := range []struct {
		name, field string
		frame       []byte
	}{
		{"short header", "header", valid[:7]},
		{"reserved", "reserved", mutate(func(b []byte) []byte { b[3] = 1; return b })},
		{"flag bits", "flags", mutate(func(b []byte) []byte { b[7] = 0x80; return b })},
		{"status in a request", "status", mutate(func(b []byte) []byte { b[6] = uint8(xe.BadParam); return b })},
		{"unknown status", "status", mutate(func(b []byte) []byte { b[6], b[7] = uint8(xe.NumCodes), 1; return b })},
		{"length too long", "length", mutate(func(b []byte) []byte { b[5] = 2; return b })},
		{"length too short", "length", mutate(func(b []byte) []byte { b[5] = 0; return b })},
		{"trailing octet", "length", mutate(func(b []byte) []byte { return append(b, 0) })},
		{"trailing word", "length", mutate(func(b []byte) []byte { return append(b, 0, 0, 0, 0) })},
	} {
		_, err := ParseMessage(c.frame)
		if !errors.Is(err, xe.BadParam) || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s: %v, want an error naming %q", c.name, err, c.field)
		}
	}

	// Data checks, past a valid header.
	for _, c := range []struct {
		name, field string
		frame       []byte
		decode      func(*Message) (any, error)
	}{
		{"padding", "padding", mutate(func(b []byte) []byte { b[11] = 1; return b }), decodeAny},
		{"extra word", "length", mutate(func(b []byte) []byte { b[5] = 2; return append(b, 0, 0, 0, 0) }), decodeAny},
		{"request as a reply", "flags", valid, func(m *Message) (any, error) { m.Reply = true; return DecodeRequest(m) }},
		{"request as a reply", "flags", valid, func(m *Message) (any, error) { return DecodeReply(m) }},
		{"request as an event", "type", valid, func(m *Message) (any, error) { return DecodeEvent(m) }},
		{"unknown type", "type", mutate(func(b []byte) []byte { b[0] = 99; return b }), decodeAny},
		{"event as a request", "type", mutate(func(b []byte) []byte { b[0] = uint8(messaging.MsgAcquire); return b }), func(m *Message) (any, error) { return DecodeRequest(m) }},
	} {
		m, err := ParseMessage(c.frame)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if _, err := c.decode(m); !errors.Is(err, xe.BadParam) || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s: %v, want an error naming %q", c.name, err, c.field)
		}
	}

	// 1020 octets of data fit; 1021 do not.
	m := Message{Type: messaging.MsgAddSA, Src: PartyIKE, Dst: PartyIPsec, Body: make([]byte, MaxBodyLen)}
	if b, err := m.Marshal(); err != nil || b[5] != 255 || len(b) != HeaderLen+MaxBodyLen {
		t.Fatalf("1020 octets: %v", err)
	}
	m.Body = make([]byte, MaxBodyLen+1)
	if _, err := m.Marshal(); !errors.Is(err, xe.DstOutOfSpace) {
		t.Fatalf("1021 octets: %v", err)
	}
	big := wirePolicy()
	for range 40 {
		big.ESPAlgorithms = append(big.ESPAlgorithms, strings.Repeat("a", 30))
	}
	if _, err := EncodeRequest(PartyAdmin, 0, AddPolicyRequest{Policy: big}); !errors.Is(err, xe.DstOutOfSpace) || !strings.Contains(err.Error(), "ADD_POLICY") {
		t.Fatalf("policy of %d algorithms: %v", len(big.ESPAlgorithms), err)
	}
	big = wirePolicy()
	big.Name = strings.Repeat("n", 256)
	if _, err := EncodeRequest(PartyAdmin, 0, AddPolicyRequest{Policy: big}); !errors.Is(err, xe.DstOutOfSpace) || !strings.Contains(err.Error(), "policy.name") {
		t.Fatalf("name of 256 octets: %v", err)
	}
	sa := wireManualSA()
	sa.EncrKeyIn = make([]byte, 256)
	if _, err := EncodeRequest(PartyAdmin, 0, AddSARequest{SA: sa}); !errors.Is(err, xe.DstOutOfSpace) || !strings.Contains(err.Error(), "sa.encr_key_in") {
		t.Fatalf("key of 256 octets: %v", err)
	}
	if _, err := EncodeRequest(PartyAdmin, 0, InitialContactRequest{Remote: mustAddr("fe80::1%eth0")}); !errors.Is(err, xe.BadParam) || !strings.Contains(err.Error(), "remote") {
		t.Fatalf("address with a zone: %v", err)
	}
	if _, err := (&Message{Type: messaging.MsgGetSA, Status: xe.SANotFound}).Marshal(); !errors.Is(err, xe.BadParam) {
		t.Fatalf("status without the reply flag: %v", err)
	}

	// Errors name the message and the field.
	b, _ := EncodeRequest(PartyIKE, 1, AddSARequest{PolicyID: 1, SA: wireManualSA()})
	b[HeaderLen+4+2] = 250 // encr_key_in claims more octets than there are
	m2, err := ParseMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeRequest(m2); err == nil || !strings.Contains(err.Error(), "ADD_SA request: sa.encr_key_in: truncated") {
		t.Fatalf("bad ADD_SA: %v", err)
	}
	for _, c := range []struct {
		req   Request
		off   int
		value byte
		field string
	}{
		{GetSPIRequest{PolicyID: 1, Protocol: sad.ESP}, 4, 7, "protocol"},
		{InitialContactRequest{Remote: mustAddr("192.0.2.1")}, 0, 5, "remote.family"},
		{LookupPolicyRequest{Direction: spd.Inbound}, 0, 3, "direction"},
		{ClonePolicyRequest{Src: classify.MustParseSelector("10.0.0.1"), Dst: classify.MustParseSelector("10.0.0.2")}, 5, 'x', "src"},
		{AddSARequest{SA: ipsec.ManualSA{ESN: true}}, 28, 0x85, "sa.flags"},
		{AddSARequest{SA: ipsec.ManualSA{}}, 35, 3, "sa.only"},
	} {
		b, err := EncodeRequest(PartyIKE, 1, c.req)
		if err != nil {
			t.Fatal(err)
		}
		b[HeaderLen+c.off] = c.value
		m, err := ParseMessage(b)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeRequest(m); !errors.Is(err, xe.BadParam) || !strings.Contains(err.Error(), c.req.MsgType().String()+" request: "+c.field+":") {
			t.Errorf("%v with octet %d = %d: %v, want an error naming %q", c.req.MsgType(), c.off, c.value, err, c.field)
		}
	}
}

// TestWireGetSAWithoutKeys: GET_SA describes real SAs without their keys.
func TestWireGetSAWithoutKeys(t *testing.T) {
	e := ipsec.New(spd.NewDB(), sad.NewDB(), ipsec.Config{})
	m := messaging.New(e)
	id, err := m.AddPolicy(spd.Policy{Action: spd.Secure, Mode: spd.Tunnel, Src: classify.MustParseSelector("10.1.0.0/24"),
		Dst: classify.MustParseSelector("10.2.0.0/24"), TunnelLocal: mustAddr("192.0.2.1"), TunnelRemote: mustAddr("192.0.2.2")})
	if err != nil {
		t.Fatal(err)
	}
	sa := ipsec.ManualSA{Encr: suite.EncrAESCBC, EncrKeyIn: key(16, 1), EncrKeyOut: key(16, 2), Integ: suite.IntegHMACSHA256128,
		IntegKeyIn: key(32, 3), IntegKeyOut: key(32, 4), ESPSPIIn: 0x1001, ESPSPIOut: 0x2002, ESN: true,
		Encap: &sad.UDPEncap{SrcPort: 4500, DstPort: 4500}}
	keys := [][]byte{bytes.Clone(sa.EncrKeyIn), bytes.Clone(sa.EncrKeyOut), bytes.Clone(sa.IntegKeyIn), bytes.Clone(sa.IntegKeyOut)}
	if err := m.AddSA(id, sa); err != nil {
		t.Fatal(err)
	}
	sas, err := m.GetSA(id)
	if err != nil {
		t.Fatal(err)
	}
	var reply GetSAReply
	for _, s := range sas {
		reply.SAs = append(reply.SAs, SAInfoOf(s))
	}
	b, err := EncodeReply(&Message{Type: messaging.MsgGetSA, Src: PartyAdmin}, reply, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if bytes.Contains(b, k[:8]) {
			t.Fatalf("GET_SA reply holds key material % x", k)
		}
	}
	msg, _ := ParseMessage(b)
	got, err := DecodeReply(msg)
	if err != nil || !reflect.DeepEqual(got, reply) {
		t.Fatalf("GET_SA: %#v %v", got, err)
	}
	if len(reply.SAs) != 2 {
		t.Fatalf("%d SAs", len(reply.SAs))
	}
	for _, s := range reply.SAs {
		want := uint32(0x2002)
		if s.Direction == sad.Inbound {
			want = 0x1001
		}
		if s.SPI != want || s.Protocol != sad.ESP || s.Mode != sad.Tunnel || !s.ESN || s.Encap == nil || s.Encap.DstPort != 4500 || s.Algorithm == "" ||
			s.Local != mustAddr("192.0.2.1") || s.Remote != mustAddr("192.0.2.2") {
			t.Fatalf("SA %+v", s)
		}
	}
}

const wireCorpusDir = "testdata/fuzz/FuzzDecodeMessage"

// TestWireFuzzCorpus checks that the seed corpus holds a valid message of
// every type; -update-wire-corpus rewrites it from the samples.
func TestWireFuzzCorpus(t *testing.T) {
	if *updateWireCorpus {
		if err := os.MkdirAll(wireCorpusDir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range wireFrames(t) {
			data := "go test fuzz v1\n[]byte(" + strconv.Quote(string(f.frame)) + ")\n"
			if err := os.WriteFile(filepath.Join(wireCorpusDir, f.name), []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	files, err := filepath.Glob(filepath.Join(wireCorpusDir, "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no seed corpus in %s: %v", wireCorpusDir, err)
	}
	requests, replies, events := map[messaging.MsgType]bool{}, map[messaging.MsgType]bool{}, map[messaging.MsgType]bool{}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		text, ok := strings.CutPrefix(string(data), "go test fuzz v1\n[]byte(")
		text, ok2 := strings.CutSuffix(text, ")\n")
		frame, err := strconv.Unquote(text)
		if !ok || !ok2 || err != nil {
			t.Fatalf("%s: not a fuzz corpus file", name)
		}
		m, err := ParseMessage([]byte(frame))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var se *StatusError
		if _, err := decodeAny(m); err != nil && !errors.As(err, &se) {
			t.Fatalf("%s: %v", name, err)
		}
		switch {
		case m.Reply:
			replies[m.Type] = true
		case m.Type.IsEvent():
			events[m.Type] = true
		default:
			requests[m.Type] = true
		}
	}
	for typ := messaging.MsgAppRegister; typ <= messaging.MsgFlushSPD; typ++ {
		if !requests[typ] || !replies[typ] {
			t.Errorf("seed corpus lacks a %v request or reply", typ)
		}
	}
	for typ := messaging.MsgAcquire; typ <= messaging.MsgPolicyDeleted; typ++ {
		if !events[typ] {
			t.Errorf("seed corpus lacks a %v event", typ)
		}
	}
}

// FuzzDecodeMessage parses and decodes arbitrary octets: no panic, and what
// decodes encodes to a message that decodes to the same value.
func FuzzDecodeMessage(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseMessage(b)
		if err != nil {
			return
		}
		var out []byte
		switch {
		case m.Reply:
			reply, err := DecodeReply(m)
			var se *StatusError
			if err != nil && !errors.As(err, &se) {
				return
			}
			if se != nil {
				err = se
			}
			if out, err = EncodeReply(&Message{Type: m.Type, Src: m.Dst, Seq: m.Seq}, reply, err); err != nil {
				t.Fatalf("re-encode %#v: %v", reply, err)
			}
			m2, err := ParseMessage(out)
			if err != nil {
				t.Fatal(err)
			}
			reply2, err2 := DecodeReply(m2)
			if !reflect.DeepEqual(reply, reply2) || !reflect.DeepEqual(se, asStatusError(err2)) || (se == nil) != (err2 == nil) {
				t.Fatalf("reply round trip:\n got %#v %v\nwant %#v %v", reply2, err2, reply, se)
			}
		case m.Type.IsEvent():
			ev, err := DecodeEvent(m)
			if err != nil {
				return
			}
			if out, err = EncodeEvent(m.Dst, m.Seq, ev); err != nil {
				t.Fatalf("re-encode %#v: %v", ev, err)
			}
			m2, err := ParseMessage(out)
			if err != nil {
				t.Fatal(err)
			}
			if ev2, err := DecodeEvent(m2); err != nil || !reflect.DeepEqual(ev, ev2) {
				t.Fatalf("event round trip:\n got %#v %v\nwant %#v", ev2, err, ev)
			}
		default:
			req, err := DecodeRequest(m)
			if err != nil {
				return
			}
			if out, err = EncodeRequest(m.Src, m.Seq, req); err != nil {
				t.Fatalf("re-encode %#v: %v", req, err)
			}
			m2, err := ParseMessage(out)
			if err != nil {
				t.Fatal(err)
			}
			if req2, err := DecodeRequest(m2); err != nil || !reflect.DeepEqual(req, req2) {
				t.Fatalf("request round trip:\n got %#v %v\nwant %#v", req2, err, req)
			}
		}
	})
}

func asStatusError(err error) *StatusError {
	var se *StatusError
	errors.As(err, &se)
	return se
}

// TestLookupPolicyDirectionOctet pins LOOKUP_POLICY's direction octet
// (1 out, 2 in), which is not spd.Direction's value: an SA's direction
// octet is 1 inbound, 2 outbound.
func TestLookupPolicyDirectionOctet(t *testing.T) {
	for _, tt := range []struct {
		dir   spd.Direction
		octet byte
	}{
		{spd.Outbound, 1},
		{spd.Inbound, 2},
	} {
		body, err := requestBody(LookupPolicyRequest{Direction: tt.dir})
		if err != nil || len(body) == 0 || body[0] != tt.octet {
			t.Fatalf("%v: body % x, %v; want direction octet %d", tt.dir, body, err, tt.octet)
		}
		req, err := DecodeRequest(&Message{Type: messaging.MsgLookupPolicy, Src: PartyIKE, Dst: PartyIPsec, Body: body})
		if q, ok := req.(LookupPolicyRequest); err != nil || !ok || q.Direction != tt.dir {
			t.Fatalf("octet %d decodes to %#v, %v; want %v", tt.octet, req, err, tt.dir)
		}
	}
}
