package message

import (
	"bytes"
	"io"
	"reflect"
	"testing"
)

// FuzzIKEMessage parses arbitrary datagrams: Parse, Dump and CheckMessage
// never panic, every refusal is a NotifyError, and whatever Parse accepts
// Marshal encodes into a message that parses back equal and re-encodes to
// the same octets. Seeds: the captures in testdata and
// testdata/fuzz/FuzzIKEMessage.
func FuzzIKEMessage(f *testing.F) {
	for _, v := range vectors {
		f.Add(readVector(f, v.file))
	}
	for _, b := range messagesForTruncation(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzMessage(t, b)
		// Mutations rarely keep the Length field right; try the same
		// octets with it fixed, so that they reach the payloads.
		if len(b) >= HeaderLen {
			b = bytes.Clone(b)
			b[24], b[25], b[26], b[27] = byte(len(b)>>24), byte(len(b)>>16), byte(len(b)>>8), byte(len(b))
			fuzzMessage(t, b)
		}
	})
}

func fuzzMessage(t *testing.T, b []byte) {
	Dump(io.Discard, b)
	SplitEncrypted(b)
	h, herr := ParseHeader(b)
	if herr != nil && len(b) >= HeaderLen || herr == nil && len(b) < HeaderLen {
		t.Fatalf("ParseHeader of %d octets: %v", len(b), herr)
	}
	m, err := Parse(b)
	if err != nil {
		if !isNotifyError(err) {
			t.Fatalf("Parse error %T: %v", err, err)
		}
		return
	}
	// What a receiver answers from the header alone is the header Parse
	// reads.
	if m.Header != *h {
		t.Fatalf("ParseHeader %+v, Parse %+v", *h, m.Header)
	}
	CheckMessage(m)
	out, err := m.Marshal()
	if err != nil {
		t.Fatalf("Marshal of a parsed message: %v\n%v", err, m)
	}
	m2, err := Parse(out)
	if err != nil {
		t.Fatalf("Parse of Marshal output: %v\n%x", err, out)
	}
	if !equalMessages(m, m2) {
		t.Fatalf("round trip differs:\n%v\n%v", m, m2)
	}
	again, err := m2.Marshal()
	if err != nil || !bytes.Equal(again, out) {
		t.Fatalf("Marshal not stable: %v\n%x\n%x", err, out, again)
	}
}

// FuzzPayloads parses arbitrary inner payload chains, as decrypted from an
// SK payload, with the same promises, and runs the rules table over what
// it accepts. Seeds: every payload of payloadCases, the malformed table,
// and testdata/fuzz/FuzzPayloads.
func FuzzPayloads(f *testing.F) {
	for _, c := range payloadCases {
		if c.p.PayloadType() == PayloadSK || c.p.PayloadType() == PayloadSKF {
			continue
		}
		first, b, err := MarshalPayloads([]Payload{c.p})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(first), b)
	}
	for _, c := range malformed {
		f.Add(uint8(c.first), mustHex(f, c.chain))
	}
	f.Fuzz(func(t *testing.T, first uint8, b []byte) {
		DumpPayloads(io.Discard, PayloadType(first), b)
		ps, err := ParsePayloads(PayloadType(first), b)
		if err != nil {
			if !isNotifyError(err) {
				t.Fatalf("ParsePayloads error %T: %v", err, err)
			}
			return
		}
		for _, r := range rules {
			Check(r.exchange, r.response, ps)
		}
		Summary(ps)
		first2, out, err := MarshalPayloads(ps)
		if err != nil {
			t.Fatalf("MarshalPayloads of parsed payloads: %v", err)
		}
		if len(ps) > 0 && first2 != PayloadType(first) {
			t.Fatalf("first payload %v, parsed from %v", first2, PayloadType(first))
		}
		ps2, err := ParsePayloads(first2, out)
		if err != nil {
			t.Fatalf("ParsePayloads of MarshalPayloads output: %v\n%x", err, out)
		}
		if !reflect.DeepEqual(withoutRaw(ps), withoutRaw(ps2)) {
			t.Fatalf("round trip differs:\n%s\n%s", Summary(ps), Summary(ps2))
		}
		if _, again, err := MarshalPayloads(ps2); err != nil || !bytes.Equal(again, out) {
			t.Fatalf("MarshalPayloads not stable: %v", err)
		}
	})
}
