package sad

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/sabre-ipsec/sabre/xe"
)

func TestReserveSPIUnique(t *testing.T) {
	db, _, _ := newTestDB(t)
	seen := map[uint32]bool{}
	for range 2000 {
		spi, err := db.ReserveSPI(ESP, hostA, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if spi <= 255 || seen[spi] {
			t.Fatalf("SPI %#x reserved or handed out twice", spi)
		}
		seen[spi] = true
	}
	if db.Reserved() != 2000 || db.Len() != 0 || db.LookupInbound(0, ESP, hostA) != nil {
		t.Fatal("reservations must not be SAs")
	}
}

// TestReserveSPISkips feeds the DB chosen random numbers: the reserved range
// and an SPI in use must be skipped.
func TestReserveSPISkips(t *testing.T) {
	db, _, _ := newTestDB(t)
	addSA(t, db, testConfig(0x1000))
	held, _ := db.ReserveSPI(ESP, hostA, 0)
	var r bytes.Buffer
	for _, v := range []uint32{0, 255, 0x1000, held, 0x1234} {
		binary.Write(&r, binary.BigEndian, v)
	}
	db.rand = &r
	spi, err := db.ReserveSPI(ESP, hostA, 0)
	if err != nil || spi != 0x1234 {
		t.Fatalf("ReserveSPI = %#x, %v; want 0x1234", spi, err)
	}
	db.rand = bytes.NewReader(make([]byte, 64*4)) // all zero: never usable
	if _, err := db.ReserveSPI(ESP, hostA, 0); !errors.Is(err, xe.OutOfSessions) {
		t.Fatalf("exhausted source: %v", err)
	}
}

func TestReserveSPIFilledByAdd(t *testing.T) {
	db, _, _ := newTestDB(t)
	spi, _ := db.ReserveSPI(ESP, hostA, time.Minute)

	// Another destination or protocol may not take the reserved SPI.
	c := testConfig(spi)
	c.Local = netip.MustParseAddr("198.51.100.1")
	if err := db.Add(newSA(t, c)); !errors.Is(err, xe.Exist) {
		t.Fatalf("Add to another destination: %v", err)
	}
	if err := db.Add(newSA(t, ahConfig(spi))); !errors.Is(err, xe.Exist) {
		t.Fatalf("Add of AH on an ESP reservation: %v", err)
	}
	addSA(t, db, testConfig(spi))
	if db.Reserved() != 0 {
		t.Fatal("reservation not filled by Add")
	}
	if err := db.ReleaseSPI(spi); !errors.Is(err, xe.SANotFound) {
		t.Fatalf("ReleaseSPI of a filled reservation: %v", err)
	}

	// ProtocolAny: the ESP and AH pair share the SPI.
	spi, _ = db.ReserveSPI(ProtocolAny, hostA, time.Minute)
	addSA(t, db, ahConfig(spi))
	addSA(t, db, testConfig(spi))
}

func TestReserveSPITimeout(t *testing.T) {
	db, clk, rec := newTestDB(t)
	spi, _ := db.ReserveSPI(ESP, hostA, 10*time.Second)
	other, _ := db.ReserveSPI(ESP, hostA, 0) // DefaultReservation
	clk.Advance(10 * time.Second)
	if db.Reserved() != 1 {
		t.Fatalf("%d reserved after the timeout, want 1", db.Reserved())
	}
	// Released: anyone may take the SPI now.
	c := testConfig(spi)
	c.Local = netip.MustParseAddr("198.51.100.1")
	addSA(t, db, c)
	if err := db.ReleaseSPI(other); err != nil {
		t.Fatal(err)
	}
	clk.Advance(DefaultReservation)
	if db.Reserved() != 0 || len(rec.take()) != 0 || len(db.timers) != 0 {
		t.Fatal("reservations left state or raised events")
	}
}

func TestReserveSPIRejects(t *testing.T) {
	db, _, _ := newTestDB(t)
	for _, tc := range []struct {
		proto   Protocol
		dst     netip.Addr
		timeout time.Duration
	}{
		{6, hostA, 0},
		{ESP, netip.Addr{}, 0},
		{ESP, hostA, -time.Second},
	} {
		if _, err := db.ReserveSPI(tc.proto, tc.dst, tc.timeout); !errors.Is(err, xe.BadParam) {
			t.Errorf("ReserveSPI(%v, %v, %v): %v", tc.proto, tc.dst, tc.timeout, err)
		}
	}
}
