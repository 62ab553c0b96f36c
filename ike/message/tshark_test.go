package message

import (
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// udp500 wraps an IKE message in IPv4 and UDP port 500 headers.
func udp500(msg []byte) []byte {
	b := make([]byte, 28, 28+len(msg))
	b[0], b[8], b[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(b[2:], uint16(28+len(msg)))
	copy(b[12:], []byte{192, 0, 2, 1, 192, 0, 2, 2})
	binary.BigEndian.PutUint16(b[20:], 500)
	binary.BigEndian.PutUint16(b[22:], 500)
	binary.BigEndian.PutUint16(b[24:], uint16(8+len(msg)))
	return append(b, msg...)
}

// writeIKEPcap writes IKE messages as UDP datagrams in a pcap file of raw
// IPv4 packets (LINKTYPE_RAW).
func writeIKEPcap(t *testing.T, path string, msgs [][]byte) {
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 65535)
	binary.LittleEndian.PutUint32(hdr[20:], 101)
	out := hdr
	for i, m := range msgs {
		p := udp500(m)
		rec := make([]byte, 16)
		binary.LittleEndian.PutUint32(rec[0:], uint32(i))
		binary.LittleEndian.PutUint32(rec[8:], uint32(len(p)))
		binary.LittleEndian.PutUint32(rec[12:], uint32(len(p)))
		out = append(append(out, rec...), p...)
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
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
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark not installed (apt-get install tshark): it is the independent decoder this test checks against")
	}
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
	out, err := exec.Command(tshark, "-n", "-r", pcap, "-T", "fields", "-E", "aggregator=,",
		"-e", "isakmp.typepayload", "-e", "_ws.expert.severity").Output()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(msgs) {
		t.Fatalf("tshark printed %d lines for %d messages:\n%s", len(lines), len(msgs), out)
	}
	for i, line := range lines {
		f := strings.Split(line, "\t")
		if want := tsharkTypes(msgs[i].Payloads); f[0] != want {
			t.Errorf("message %d (%v): tshark saw payloads %s, want %s", i+1, msgs[i], f[0], want)
		}
		// Expert severity 0x00800000 is an error, such as a malformed
		// packet; the warnings are about the fixtures' made-up content.
		for _, sev := range strings.Split(f[len(f)-1], ",") {
			if v, _ := strconv.ParseUint(sev, 0, 32); v >= 0x00800000 {
				t.Errorf("message %d (%v): tshark expert severity %s", i+1, msgs[i], sev)
			}
		}
	}
	// The decoded values of a few fields.
	out, err = exec.Command(tshark, "-n", "-r", pcap, "-Y", "frame.number==7", "-T", "fields", "-E", "aggregator=,",
		"-e", "isakmp.notify.msgtype", "-e", "isakmp.ts.start_ipv4", "-e", "isakmp.ts.end_ipv6",
		"-e", "isakmp.id.data.fqdn", "-e", "isakmp.delete.spi", "-e", "isakmp.auth.method").Output()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, out)
	}
	want := "16384,16390,17,16393,40000\t10.1.0.0,10.1.0.0,10.1.0.0\t2001:db8::ffff\tmoon.strongswan.org\tc1000001,c1000002\t2,14"
	if got := strings.TrimSpace(string(out)); got != want {
		t.Errorf("tshark fields\n%q\nwant\n%q", got, want)
	}
}
