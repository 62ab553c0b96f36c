package xe

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

func TestEveryCodeNamed(t *testing.T) {
	for c := OK; c < NumCodes; c++ {
		if !strings.HasPrefix(c.Name(), "XE_") || descriptions[c] == "" {
			t.Errorf("code %d has name %q description %q", c, c.Name(), descriptions[c])
		}
	}
}

func TestErrorsIs(t *testing.T) {
	err := fmt.Errorf("decapsulate: %w", Errorf(BadESPSPI, "SPI %#x", 0x1234))
	if !errors.Is(err, BadESPSPI) {
		t.Fatal("errors.Is does not find the code through wrapping")
	}
	if errors.Is(err, BadAHSPI) {
		t.Fatal("errors.Is matched the wrong code")
	}
	if got := CodeOf(err); got != BadESPSPI {
		t.Fatalf("CodeOf = %v", got)
	}
	if got := err.Error(); got != "decapsulate: XE_BAD_ESP_SPI: SPI 0x1234" {
		t.Fatalf("message = %q", got)
	}
	if CodeOf(nil) != OK || CodeOf(errors.New("x")) != BadParam {
		t.Fatal("CodeOf of nil or foreign error")
	}
}

func TestDropFormatsLikeErrorf(t *testing.T) {
	var d Drop
	src, dst := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::2")
	err := fmt.Errorf("decapsulate: %w", d.Set(BadESPSPI, "no inbound ESP SA for SPI %#08x from %v to %v, %d bytes, %s",
		Uint(uint32(0x1234)), Addr(src), Addr(dst), Int(-3), Str("esp")))
	want := Errorf(BadESPSPI, "no inbound ESP SA for SPI %#08x from %v to %v, %d bytes, %s", uint32(0x1234), src, dst, -3, "esp")
	if got := err.Error(); got != "decapsulate: "+want.Error() {
		t.Fatalf("Drop says %q, Errorf %q", got, want.Error())
	}
	if !errors.Is(err, BadESPSPI) || errors.Is(err, BadAHSPI) || CodeOf(err) != BadESPSPI {
		t.Fatal("errors.Is or CodeOf do not see the Drop's code")
	}
	c := d.Clone()
	d.Set(MalformedPacket, "empty packet")
	if !errors.Is(c, BadESPSPI) || c.Error() != want.Error() {
		t.Fatalf("clone changed with the original: %v", c)
	}
	if got := d.Error(); got != "XE_MALFORMED_PACKET: empty packet" {
		t.Fatalf("reused Drop says %q", got)
	}
}

func TestDropSetAllocatesNothing(t *testing.T) {
	var d Drop
	src := netip.MustParseAddr("192.0.2.1")
	var err error
	if n := testing.AllocsPerRun(100, func() {
		err = d.Set(BadESPSPI, "SPI %#08x from %v", Uint(uint32(7)), Addr(src))
	}); n != 0 {
		t.Fatalf("Set allocates %v times", n)
	}
	if CodeOf(err) != BadESPSPI {
		t.Fatal(err)
	}
}

func TestDropWrap(t *testing.T) {
	var d Drop
	d.Set(BadESPSPI, "SPI %d", Uint(uint8(1)))
	inner := Errorf(SAExpired, "hard lifetime of %d bytes reached", 1000)
	d.Wrap(inner)
	if d.Error() != inner.Error() || !errors.Is(&d, SAExpired) || errors.Is(&d, BadESPSPI) || CodeOf(&d) != SAExpired || !errors.Is(&d, inner) {
		t.Fatalf("wrapped Drop: %q code %v", d.Error(), CodeOf(&d))
	}
	d.Set(MalformedPacket, "empty packet")
	if d.Error() != "XE_MALFORMED_PACKET: empty packet" || errors.Is(&d, SAExpired) {
		t.Fatalf("Set after Wrap: %q", d.Error())
	}
}
