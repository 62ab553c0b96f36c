package xe

import (
	"errors"
	"fmt"
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
