package sad

import (
	"encoding/binary"
	"io"
	"net/netip"
	"time"

	"github.com/sabre-ipsec/sabre/xe"
)

// DefaultReservation is how long ReserveSPI holds an SPI when given no
// timeout: long enough for an IKE exchange with retransmissions.
const DefaultReservation = 30 * time.Second

// ReserveSPI picks an unpredictable inbound SPI (crypto/rand, never 0..255)
// that no inbound SA and no other reservation uses, and holds it for dst as
// a Larval placeholder until an inbound SA of that SPI, protocol and
// destination is added, ReleaseSPI is called, or timeout (0:
// DefaultReservation) passes. proto may be ProtocolAny, to reserve the SPI
// for an ESP and AH pair. It serves the messaging layer's GET_SPI.
func (db *DB) ReserveSPI(proto Protocol, dst netip.Addr, timeout time.Duration) (uint32, error) {
	if proto != ProtocolAny && proto != ESP && proto != AH {
		return 0, xe.Errorf(xe.BadParam, "reserve SPI: protocol %d", uint8(proto))
	}
	dst = dst.Unmap()
	if !dst.IsValid() {
		return 0, xe.Errorf(xe.BadParam, "reserve SPI: no destination address")
	}
	if timeout < 0 {
		return 0, xe.Errorf(xe.BadParam, "reserve SPI: timeout %v", timeout)
	}
	if timeout == 0 {
		timeout = DefaultReservation
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return 0, xe.Errorf(xe.BadParam, "reserve SPI: DB closed")
	}
	var b [4]byte
	for range 64 {
		if _, err := io.ReadFull(db.rand, b[:]); err != nil {
			return 0, xe.Errorf(xe.NoMem, "reserve SPI: random source: %v", err)
		}
		spi := binary.BigEndian.Uint32(b[:])
		if spi <= 255 || db.spiInUseLocked(spi) || db.reserved[spi] != nil {
			continue
		}
		r := &SA{cfg: Config{SPI: spi, Protocol: proto, Direction: Inbound, Local: dst}}
		r.state.Store(uint32(Larval))
		db.reserved[spi] = r
		db.scheduleLocked(r, reservationTimer, db.clock.Now().Add(timeout))
		return spi, nil
	}
	// 64 misses means billions of SPIs are taken.
	return 0, xe.Errorf(xe.OutOfSessions, "reserve SPI: no free SPI found in 64 tries (%d in use)", db.inbound.Len()+len(db.reserved))
}

// ReleaseSPI cancels a reservation made by ReserveSPI, as when negotiation
// fails (ACQUIRE_FAIL). It fails with xe.SANotFound if spi is not reserved.
func (db *DB) ReleaseSPI(spi uint32) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	r := db.reserved[spi]
	if r == nil {
		return xe.Errorf(xe.SANotFound, "release SPI %#08x: not reserved", spi)
	}
	delete(db.reserved, spi)
	db.unscheduleLocked(r)
	r.transition(Dead)
	return nil
}

// Reserved returns the number of SPIs held by ReserveSPI.
func (db *DB) Reserved() int {
	db.mu.Lock()
	defer db.mu.Unlock()
	return len(db.reserved)
}

// spiInUseLocked reports whether an inbound SA has the SPI.
func (db *DB) spiInUseLocked(spi uint32) bool {
	p := db.inbound.Probe(uint64(spi))
	for sa := p.Next(); sa != nil; sa = p.Next() {
		if sa.cfg.SPI == spi {
			return true
		}
	}
	return false
}
