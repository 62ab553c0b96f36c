package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

func TestDemo(t *testing.T) {
	for _, args := range [][]string{
		{"-t", "20ms"},
		{"-t", "20ms", "-mode", "transport", "-v6", "-suite", "aes256cbc-sha256"},
		{"-t", "20ms", "-suite", "chacha20poly1305", "-v6"},
	} {
		pcap := filepath.Join(t.TempDir(), "demo.pcap")
		var out bytes.Buffer
		if err := runDemo(append(args, "-pcap", pcap), &out); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out.String())
		}
		if n := strings.Count(out.String(), "inner packet intact: true"); n != 6 {
			t.Fatalf("%v: %d intact packets\n%s", args, n, out.String())
		}
		if !strings.Contains(out.String(), "drops map[]") {
			t.Fatalf("%v: drops reported\n%s", args, out.String())
		}
		f, err := os.Open(pcap)
		if err != nil {
			t.Fatal(err)
		}
		r, err := pcapgo.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for {
			data, _, err := r.ReadPacketData()
			if err != nil {
				break
			}
			first := layers.LayerTypeIPv4
			if data[0]>>4 == 6 {
				first = layers.LayerTypeIPv6
			}
			if gopacket.NewPacket(data, first, gopacket.Default).Layer(layers.LayerTypeIPSecESP) == nil {
				t.Fatalf("%v: captured packet %d is not ESP", args, n)
			}
			n++
		}
		f.Close()
		if n != 6 {
			t.Fatalf("%v: %d packets captured", args, n)
		}
	}
}
