package suite

import (
	"errors"
	"strings"
	"testing"

	"github.com/sabre-ipsec/sabre/xe"
)

func TestEncrByName(t *testing.T) {
	for _, tc := range []struct {
		name string
		id   EncrID
		bits int
	}{
		// The reference CLI's names.
		{"3DES-CBC", Encr3DES, 192},
		{"AES128-CBC", EncrAESCBC, 128},
		{"AES192-CBC", EncrAESCBC, 192},
		{"AES256-CBC", EncrAESCBC, 256},
		{"NULL_ENC", EncrNull, 0},
		// strongSwan-style names.
		{"aes128gcm16", EncrAESGCM16, 128},
		{"AES128-GCM16", EncrAESGCM16, 128},
		{"aes256gcm128", EncrAESGCM16, 256},
		{"aes192gcm12", EncrAESGCM12, 192},
		{"aes256gcm96", EncrAESGCM12, 256},
		{"aes128gcm8", EncrAESGCM8, 128},
		{"aes128gcm64", EncrAESGCM8, 128},
		{"aes256gcm", EncrAESGCM16, 256},
		{"aes256ctr", EncrAESCTR, 256},
		{"aes192gmac", EncrNullAuthAESGMAC, 192},
		{"aes128", EncrAESCBC, 128},
		{"aes-cbc-256", EncrAESCBC, 256},
		{"3des", Encr3DES, 192},
		{"null", EncrNull, 0},
		{"CHACHA20-POLY1305", EncrChaCha20Poly1305, 256},
		{"chacha20poly1305", EncrChaCha20Poly1305, 256},
		// IANA names carry no key size.
		{"ENCR_AES_GCM_16", EncrAESGCM16, 0},
		{"ENCR_AES_CBC", EncrAESCBC, 0},
		{"ENCR_AES_CTR", EncrAESCTR, 0},
		{"ENCR_NULL_AUTH_AES_GMAC", EncrNullAuthAESGMAC, 0},
		{"ENCR_3DES", Encr3DES, 192},
		{"ENCR_NULL", EncrNull, 0},
		{"ENCR_CHACHA20_POLY1305", EncrChaCha20Poly1305, 256},
	} {
		id, bits, err := EncrByName(tc.name)
		if err != nil || id != tc.id || bits != tc.bits {
			t.Errorf("EncrByName(%q) = %v, %d, %v; want %v, %d", tc.name, id, bits, err, tc.id, tc.bits)
		}
	}
	for _, bad := range []string{"", "aes", "aes512cbc", "aes128gcm7", "aes128xyz", "des", "rot13", "aes128cbc16"} {
		if bad == "aes" {
			continue // AES-CBC of unspecified size, like "ENCR_AES_CBC"
		}
		_, _, err := EncrByName(bad)
		if !errors.Is(err, xe.UnknownAlgorithm) || !strings.Contains(err.Error(), bad) {
			t.Errorf("EncrByName(%q): %v", bad, err)
		}
	}
}

func TestIntegByName(t *testing.T) {
	for _, tc := range []struct {
		name string
		id   IntegID
	}{
		{"HMAC-MD5", IntegHMACMD596},
		{"HMAC-SHA-1", IntegHMACSHA196},
		{"HMAC-SHA-2-256", IntegHMACSHA256128},
		{"HMAC-SHA-2-384", IntegHMACSHA384192},
		{"HMAC-SHA-2-512", IntegHMACSHA512256},
		{"HMAC-SHA256", IntegHMACSHA256128},
		{"AES-XCBC", IntegAESXCBC96},
		{"aescmac", IntegAESCMAC96},
		{"sha1", IntegHMACSHA196},
		{"md5", IntegHMACMD596},
		{"sha512", IntegHMACSHA512256},
		{"aes128gmac", IntegAES128GMAC},
		{"AUTH_HMAC_SHA2_256_128", IntegHMACSHA256128},
		{"AUTH_HMAC_SHA1_96", IntegHMACSHA196},
		{"AUTH_AES_XCBC_96", IntegAESXCBC96},
		{"AUTH_AES_CMAC_96", IntegAESCMAC96},
		{"AUTH_AES_256_GMAC", IntegAES256GMAC},
		{"none", IntegNone},
	} {
		id, err := IntegByName(tc.name)
		if err != nil || id != tc.id {
			t.Errorf("IntegByName(%q) = %v, %v; want %v", tc.name, id, err, tc.id)
		}
	}
	if _, err := IntegByName("hmac-whirlpool"); !errors.Is(err, xe.UnknownAlgorithm) || !strings.Contains(err.Error(), "hmac-whirlpool") {
		t.Errorf("unknown name: %v", err)
	}
}

func TestKeyLens(t *testing.T) {
	for _, tc := range []struct {
		id   EncrID
		bits int
		n    int
	}{
		{Encr3DES, 0, 24}, {Encr3DES, 192, 24}, {EncrNull, 0, 0},
		{EncrAESCBC, 128, 16}, {EncrAESCBC, 256, 32},
		{EncrAESCTR, 128, 20}, {EncrAESCTR, 192, 28},
		{EncrAESGCM16, 256, 36}, {EncrAESGCM8, 128, 20}, {EncrNullAuthAESGMAC, 192, 28},
		{EncrChaCha20Poly1305, 0, 36}, {EncrChaCha20Poly1305, 256, 36},
	} {
		if n, err := EncrKeyLen(tc.id, tc.bits); n != tc.n || err != nil {
			t.Errorf("EncrKeyLen(%v, %d) = %d, %v; want %d", tc.id, tc.bits, n, err, tc.n)
		}
	}
	for _, bad := range []struct {
		id   EncrID
		bits int
	}{{EncrAESCBC, 0}, {EncrAESGCM16, 512}, {Encr3DES, 128}, {EncrChaCha20Poly1305, 128}} {
		if _, err := EncrKeyLen(bad.id, bad.bits); !errors.Is(err, xe.BadParam) {
			t.Errorf("EncrKeyLen(%v, %d): %v", bad.id, bad.bits, err)
		}
	}
	if _, err := EncrKeyLen(1, 128); !errors.Is(err, xe.UnknownAlgorithm) {
		t.Errorf("EncrKeyLen(1): %v", err)
	}
	for id, n := range map[IntegID]int{IntegHMACMD596: 16, IntegHMACSHA196: 20, IntegAESXCBC96: 16, IntegAESCMAC96: 16,
		IntegAES128GMAC: 20, IntegAES192GMAC: 28, IntegAES256GMAC: 36, IntegHMACSHA256128: 32, IntegHMACSHA384192: 48, IntegHMACSHA512256: 64} {
		if got, err := IntegKeyLen(id); got != n || err != nil {
			t.Errorf("IntegKeyLen(%v) = %d, %v; want %d", id, got, err, n)
		}
	}
	if _, err := IntegKeyLen(3); !errors.Is(err, xe.UnknownAlgorithm) {
		t.Errorf("IntegKeyLen(3): %v", err)
	}
}

func TestIDStrings(t *testing.T) {
	if s := EncrAESGCM16.String(); s != "ENCR_AES_GCM_16" {
		t.Error(s)
	}
	if s := EncrID(1000).String(); s != "ENCR_1000" {
		t.Error(s)
	}
	if s := IntegHMACSHA512256.String(); s != "AUTH_HMAC_SHA2_512_256" {
		t.Error(s)
	}
	if s := IntegID(99).String(); s != "AUTH_99" {
		t.Error(s)
	}
	if !EncrChaCha20Poly1305.IsAEAD() || EncrAESCTR.IsAEAD() {
		t.Error("IsAEAD")
	}
}
