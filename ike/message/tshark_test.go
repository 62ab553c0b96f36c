package message

import (
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sabre-ipsec/sabre/internal/testutil/packet"
	"github.com/sabre-ipsec/sabre/internal/testutil/tshark"
)

// writeIKEPcap writes IKE messages as UDP datagrams (port 500) in a pcap
// file of raw IPv4 packets.
func writeIKEPcap(t *testing.T, path string, msgs [][]byte) {
	src, dst := netip.MustParseAddrPort("192.0.2.1:500"), netip.MustParseAddrPort("192.0.2.2:500")
	pkts := make([][]byte, len(msgs))
	for i, m := range msgs {
		pkts[i] = packet.UDP(src, dst, m)
	}
	tshark.WritePcap(t, path, tshark.LinkRaw, tshark.RawPackets(pkts))
}

// tsharkTypes lists the payload and substructure types Wireshark reports
// for payloads (isakmp.typepayload): proposals (2) and transforms (3)
// follow their SA payload.
func tsharkTypes(payloads []Payload) string {
	var s []string
	for _, p := range payloads {
		s = append(s, strconv.Itoa(int(p.PayloadType())))
		if sa, ok := p.(*SA); ok {
			for _, prop := range sa.Proposals {
				s = append(s, "2")
				for range prop.Transforms {
					s = append(s, "3")
				}
			}
		}
	}
	return strings.Join(s, ",")
}

// TestTshark has Wireshark, an independent IKEv2 decoder, read what
// Marshal builds: it must walk every payload chain as it was built and
// report nothing malformed.
func TestTshark(t *testing.T) {
	bin := tshark.Path(t)
	var payloads []Payload
	for _, c := range payloadCases {
		// Wireshark 4.0 asserts on the empty data of ID_NULL (RFC 7619).
		if id, ok := c.p.(*ID); ok && id.Type == IDNull {
			continue
		}
		if c.p.PayloadType() != PayloadSK && c.p.PayloadType() != PayloadSKF {
			payloads = append(payloads, c.p)
		}
	}
	var msgs []*Message
	for _, v := range vectors {
		msgs = append(msgs, mustParse(t, readVector(t, v.file)))
	}
	for _, last := range []Payload{
		&SK{FirstPayload: PayloadIDi, Data: make([]byte, 40)},
		&SKF{FirstPayload: PayloadIDi, FragmentNumber: 1, TotalFragments: 3, Data: make([]byte, 40)},
	} {
		msgs = append(msgs, &Message{
			Header:   Header{SPIi: 0x0123456789abcdef, SPIr: 0xfedcba9876543210, Exchange: IKEAuth, Flags: FlagInitiator, MessageID: 1},
			Payloads: append(payloads[:len(payloads):len(payloads)], last),
		})
	}
	var wire [][]byte
	for _, m := range msgs {
		b, err := m.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		wire = append(wire, b)
	}
	pcap := filepath.Join(t.TempDir(), "ike.pcap")
	writeIKEPcap(t, pcap, wire)
	if d := os.Getenv("SABRE_KEEP_PCAP"); d != "" {
		writeIKEPcap(t, filepath.Join(d, "ike.pcap"), wire)
	}
	rows := tshark.Fields(t, bin, "", pcap, []string{"isakmp.typepayload", "_ws.expert.severity"})
	if len(rows) != len(msgs) {
		t.Fatalf("tshark printed %d lines for %d messages: %v", len(rows), len(msgs), rows)
	}
	for i, r := range rows {
		if got, want := strings.Join(r["isakmp.typepayload"], ","), tsharkTypes(msgs[i].Payloads); got != want {
			t.Errorf("message %d (%v): tshark saw payloads %s, want %s", i+1, msgs[i], got, want)
		}
		// Expert severity 0x00800000 is an error, such as a malformed
		// packet; the warnings are about the fixtures' made-up content.
		for _, sev := range r["_ws.expert.severity"] {
			if v, _ := strconv.ParseUint(sev, 0, 32); v >= 0x00800000 {
				t.Errorf("message %d (%v): tshark expert severity %s", i+1, msgs[i], sev)
			}
		}
	}
	// The decoded values of a few fields.
	out := tshark.Run(t, bin, "", "-n", "-r", pcap, "-Y", "frame.number==7", "-T", "fields", "-E", "aggregator=,",
		"-e", "isakmp.notify.msgtype", "-e", "isakmp.ts.start_ipv4", "-e", "isakmp.ts.end_ipv6",
		"-e", "isakmp.id.data.fqdn", "-e", "isakmp.delete.spi", "-e", "isakmp.auth.method")
	want := "16384,16390,17,16393,40000\t10.1.0.0,10.1.0.0,10.1.0.0\t2001:db8::ffff\tmoon.strongswan.org\tc1000001,c1000002\t2,14"
	if got := strings.TrimSpace(out); got != want {
		t.Errorf("tshark fields\n%q\nwant\n%q", got, want)
	}
}
