package tshark

import (
	"bufio"
	"encoding/binary"
	"os"
	"testing"
	"time"
)

// Link types of a pcap file (tcpdump.org's LINKTYPE_* numbers).
const (
	LinkEthernet uint32 = 1   // Ethernet frames
	LinkRaw      uint32 = 101 // IP packets, IPv4 or IPv6 by their version
)

// Packet is one record of a pcap file.
type Packet struct {
	Time time.Time
	Data []byte
}

// RawPackets gives pkts timestamps one millisecond apart, for a capture
// of packets a test made rather than captured.
func RawPackets(pkts [][]byte) []Packet {
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	out := make([]Packet, len(pkts))
	for i, p := range pkts {
		out[i] = Packet{Time: start.Add(time.Duration(i) * time.Millisecond), Data: p}
	}
	return out
}

// WritePcap writes pkts to a pcap file at path (the classic format,
// microsecond timestamps, snapshot length 65535) of link type link.
func WritePcap(t testing.TB, path string, link uint32, pkts []Packet) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	var hdr [24]byte
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b2c3d4) // magic: microseconds
	binary.LittleEndian.PutUint16(hdr[4:], 2)          // version 2.4
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 65535) // snapshot length
	binary.LittleEndian.PutUint32(hdr[20:], link)
	w.Write(hdr[:])
	for _, p := range pkts {
		var rec [16]byte
		us := p.Time.UnixMicro()
		binary.LittleEndian.PutUint32(rec[0:], uint32(us/1e6))
		binary.LittleEndian.PutUint32(rec[4:], uint32(us%1e6))
		binary.LittleEndian.PutUint32(rec[8:], uint32(len(p.Data)))  // captured
		binary.LittleEndian.PutUint32(rec[12:], uint32(len(p.Data))) // on the wire
		w.Write(rec[:])
		w.Write(p.Data)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
