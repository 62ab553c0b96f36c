package suite

import "testing"

// TestNamesParseBack: every name EncrName and IntegName give is one the
// name tables take back to the same transform, so that what an output
// shows can be typed into a command.
func TestNamesParseBack(t *testing.T) {
	for _, c := range []struct {
		id   EncrID
		bits int
	}{{Encr3DES, 192}, {EncrNull, 0}, {EncrChaCha20Poly1305, 256}, {EncrAESCBC, 128}, {EncrAESCBC, 256},
		{EncrAESCTR, 192}, {EncrAESGCM8, 128}, {EncrAESGCM12, 192}, {EncrAESGCM16, 256}, {EncrNullAuthAESGMAC, 128}} {
		name := EncrName(c.id, c.bits)
		id, bits, err := EncrByName(name)
		if err != nil || id != c.id || (c.bits != 0 && bits != c.bits) {
			t.Errorf("EncrName(%v, %d) = %q reads back as %v, %d, %v", c.id, c.bits, name, id, bits, err)
		}
	}
	for _, id := range []IntegID{IntegHMACMD596, IntegHMACSHA196, IntegHMACSHA256128, IntegHMACSHA384192,
		IntegHMACSHA512256, IntegAESXCBC96, IntegAESCMAC96, IntegAES128GMAC, IntegAES192GMAC, IntegAES256GMAC} {
		name := IntegName(id)
		if got, err := IntegByName(name); err != nil || got != id {
			t.Errorf("IntegName(%v) = %q reads back as %v, %v", id, name, got, err)
		}
	}
}
