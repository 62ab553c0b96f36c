package tshark

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/sabre-ipsec/sabre/internal/testutil/packet"
)

// TestWritePcap reads the file back with gopacket's pcap reader: link
// type, timestamps to the microsecond, and every packet's bytes.
func TestWritePcap(t *testing.T) {
	pkts := []Packet{
		{time.Date(2026, 1, 2, 3, 4, 5, 678901000, time.UTC), []byte{0x45, 1, 2, 3}},
		{time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC), bytes.Repeat([]byte{7}, 1500)},
	}
	for _, link := range []uint32{LinkRaw, LinkEthernet} {
		path := filepath.Join(t.TempDir(), "x.pcap")
		WritePcap(t, path, link, pkts)
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		r, err := pcapgo.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		if uint32(r.LinkType()) != link {
			t.Errorf("link type %v, want %d", r.LinkType(), link)
		}
		for i := 0; ; i++ {
			data, ci, err := r.ReadPacketData()
			if errors.Is(err, io.EOF) {
				if i != len(pkts) {
					t.Errorf("%d packets read, want %d", i, len(pkts))
				}
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if !ci.Timestamp.Equal(pkts[i].Time) || ci.Length != len(pkts[i].Data) || !bytes.Equal(data, pkts[i].Data) {
				t.Errorf("packet %d: %v %d %x, want %v %x", i, ci.Timestamp, ci.Length, data, pkts[i].Time, pkts[i].Data)
			}
		}
		f.Close()
	}
	if layers.LinkTypeRaw != 101 || layers.LinkTypeEthernet != 1 {
		t.Error("link type numbers differ from gopacket's")
	}
}

// TestESPSATable: the rows are Wireshark's esp_sa UAT format.
func TestESPSATable(t *testing.T) {
	got := ESPSATable([]ESPSA{
		{Src: "192.0.2.1", Dst: "192.0.2.2", SPI: 0x1000, Encr: "AES-CBC [RFC3602]", EncrKey: []byte{1, 2}, Auth: "HMAC-SHA-1-96 [RFC2404]", AuthKey: []byte{0xab}},
		{IPv6: true, Src: "*", Dst: "*", SPI: 0xfffffffe, Encr: "NULL", Auth: "NULL"},
	})
	want := `"IPv4","192.0.2.1","192.0.2.2","0x00001000","AES-CBC [RFC3602]","0x0102","HMAC-SHA-1-96 [RFC2404]","0xab"` + "\n" +
		`"IPv6","*","*","0xfffffffe","NULL","","NULL",""` + "\n"
	if got != want {
		t.Errorf("ESPSATable =\n%s\nwant\n%s", got, want)
	}
}

// TestFields has tshark read two datagrams: one row each, every field in
// it, the outer and inner occurrences of a field in order.
func TestFields(t *testing.T) {
	bin := Path(t)
	a, b := netip.MustParseAddrPort("192.0.2.1:40000"), netip.MustParseAddrPort("192.0.2.2:40001")
	inner := packet.IP(netip.MustParseAddr("10.1.0.1"), netip.MustParseAddr("10.2.0.1"), 17, make([]byte, 8))
	pkts := [][]byte{
		packet.UDP(a, b, []byte("x")),
		packet.IP(a.Addr(), b.Addr(), 4, inner), // IP in IP: ip.src twice
	}
	pcap := filepath.Join(t.TempDir(), "x.pcap")
	WritePcap(t, pcap, LinkRaw, RawPackets(pkts))
	rows := Fields(t, bin, Config(t, map[string]string{"preferences": ESPPreferences}), pcap, []string{"frame.number", "ip.src", "udp.dstport"})
	if len(rows) != 2 {
		t.Fatalf("%d rows, want 2: %v", len(rows), rows)
	}
	if r := rows[0]; r.First("frame.number") != "1" || r.Last("ip.src") != "192.0.2.1" || r.First("udp.dstport") != "40001" {
		t.Errorf("row 1: %v", r)
	}
	if r := rows[1]; strings.Join(r["ip.src"], " ") != "192.0.2.1 10.1.0.1" || r.First("ip.src") != "192.0.2.1" || r.Last("ip.src") != "10.1.0.1" {
		t.Errorf("row 2: %v", r)
	}
}
