package suite

import (
	"fmt"
	"strings"

	"github.com/sabre-ipsec/sabre/xe"
)

// String returns the IANA name of id (IKEv2 Transform Type 1), such as
// "ENCR_AES_GCM_16".
func (id EncrID) String() string {
	switch id {
	case Encr3DES:
		return "ENCR_3DES"
	case EncrNull:
		return "ENCR_NULL"
	case EncrAESCBC:
		return "ENCR_AES_CBC"
	case EncrAESCTR:
		return "ENCR_AES_CTR"
	case EncrAESGCM8:
		return "ENCR_AES_GCM_8"
	case EncrAESGCM12:
		return "ENCR_AES_GCM_12"
	case EncrAESGCM16:
		return "ENCR_AES_GCM_16"
	case EncrNullAuthAESGMAC:
		return "ENCR_NULL_AUTH_AES_GMAC"
	case EncrChaCha20Poly1305:
		return "ENCR_CHACHA20_POLY1305"
	}
	return fmt.Sprintf("ENCR_%d", uint16(id))
}

// IsAEAD reports whether id is a combined-mode algorithm (RFC 4303 §3.2.3),
// which provides its own integrity and is proposed without an integrity
// transform (RFC 7296 §3.3).
func (id EncrID) IsAEAD() bool {
	switch id {
	case EncrAESGCM8, EncrAESGCM12, EncrAESGCM16, EncrNullAuthAESGMAC, EncrChaCha20Poly1305:
		return true
	}
	return false
}

// String returns the IANA name of id (IKEv2 Transform Type 3), such as
// "AUTH_HMAC_SHA2_256_128".
func (id IntegID) String() string {
	switch id {
	case IntegNone:
		return "NONE"
	case IntegHMACMD596:
		return "AUTH_HMAC_MD5_96"
	case IntegHMACSHA196:
		return "AUTH_HMAC_SHA1_96"
	case IntegAESXCBC96:
		return "AUTH_AES_XCBC_96"
	case IntegAESCMAC96:
		return "AUTH_AES_CMAC_96"
	case IntegAES128GMAC:
		return "AUTH_AES_128_GMAC"
	case IntegAES192GMAC:
		return "AUTH_AES_192_GMAC"
	case IntegAES256GMAC:
		return "AUTH_AES_256_GMAC"
	case IntegHMACSHA256128:
		return "AUTH_HMAC_SHA2_256_128"
	case IntegHMACSHA384192:
		return "AUTH_HMAC_SHA2_384_192"
	case IntegHMACSHA512256:
		return "AUTH_HMAC_SHA2_512_256"
	}
	return fmt.Sprintf("AUTH_%d", uint16(id))
}

// saltLen is the length of the salt or nonce that follows the AES or
// ChaCha20 key in the keying material of the counter-based algorithms
// (RFC 4106 §8.1, RFC 4543 §5.4, RFC 3686 §5.1, RFC 7634 §4).
const saltLen = 4

// EncrKeyLen returns how many octets of keying material the encryption
// transform id takes with a cipher key of keyBits bits: the key, followed
// for AES-GCM, AES-GMAC, AES-CTR and ChaCha20-Poly1305 by a 4-octet salt.
// This is the amount IKEv2 draws from KEYMAT (RFC 7296 §2.17). keyBits must
// be 128, 192 or 256 for the AES algorithms; for 3DES (192), ChaCha20 (256)
// and NULL (0) it may be 0 or the one size the algorithm has.
func EncrKeyLen(id EncrID, keyBits int) (int, error) {
	fixed := func(bits int) (int, error) {
		if keyBits != 0 && keyBits != bits {
			return 0, xe.Errorf(xe.BadParam, "suite: %v has a %d-bit key, not %d", id, bits, keyBits)
		}
		return bits / 8, nil
	}
	switch id {
	case Encr3DES:
		return fixed(192)
	case EncrNull:
		return fixed(0)
	case EncrChaCha20Poly1305:
		n, err := fixed(256)
		return n + saltLen, err
	case EncrAESCBC, EncrAESCTR, EncrAESGCM8, EncrAESGCM12, EncrAESGCM16, EncrNullAuthAESGMAC:
		if keyBits != 128 && keyBits != 192 && keyBits != 256 {
			return 0, xe.Errorf(xe.BadParam, "suite: %v key size %d bits; want 128, 192 or 256", id, keyBits)
		}
		if id == EncrAESCBC {
			return keyBits / 8, nil
		}
		return keyBits/8 + saltLen, nil
	}
	return 0, xe.Errorf(xe.UnknownAlgorithm, "suite: unknown encryption transform %d", uint16(id))
}

// IntegKeyLen returns the key length in octets of the integrity transform
// id: the hash output length for HMAC (RFC 2403 §3, RFC 2404 §3, RFC 4868
// §2.1.1), 16 for AES-XCBC-MAC-96 (RFC 3566 §4) and AES-CMAC-96 (RFC 4494
// §2), and the AES key plus a 4-octet salt for AES-GMAC (RFC 4543 §5.4).
func IntegKeyLen(id IntegID) (int, error) {
	switch id {
	case IntegNone:
		return 0, nil
	case IntegHMACMD596, IntegAESXCBC96, IntegAESCMAC96:
		return 16, nil
	case IntegHMACSHA196:
		return 20, nil
	case IntegAES128GMAC:
		return 16 + saltLen, nil
	case IntegAES192GMAC:
		return 24 + saltLen, nil
	case IntegAES256GMAC:
		return 32 + saltLen, nil
	case IntegHMACSHA256128:
		return 32, nil
	case IntegHMACSHA384192:
		return 48, nil
	case IntegHMACSHA512256:
		return 64, nil
	}
	return 0, xe.Errorf(xe.UnknownAlgorithm, "suite: unknown integrity transform %d", uint16(id))
}

// NormalizeName folds an operator's spelling of an algorithm name to the form the
// name tables use: lower case without '-', '_', '/', '.' or spaces, so that
// "AES128-GCM16", "aes128gcm16" and "AES_128_GCM_16" are the same name.
func NormalizeName(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch r {
		case '-', '_', '/', '.', ' ':
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// encrNames maps normalised names of the algorithms whose name carries no
// AES key size, or only one, to their ID and key size.
var encrNames = map[string]struct {
	id   EncrID
	bits int
}{
	"3des":             {Encr3DES, 192},
	"3descbc":          {Encr3DES, 192},
	"des3":             {Encr3DES, 192},
	"des3cbc":          {Encr3DES, 192},
	"tripledes":        {Encr3DES, 192},
	"null":             {EncrNull, 0},
	"nullenc":          {EncrNull, 0},
	"chacha20poly1305": {EncrChaCha20Poly1305, 256},
	"chacha20":         {EncrChaCha20Poly1305, 256},
	"chachapoly":       {EncrChaCha20Poly1305, 256},
	"chacha":           {EncrChaCha20Poly1305, 256},
	"nullauthaesgmac":  {EncrNullAuthAESGMAC, 0},
}

// EncrByName looks up an encryption transform by an operator's name and
// returns its ID and key size in bits. It accepts the reference CLI's names
// ("3DES-CBC", "AES128-CBC", "NULL_ENC"), strongSwan-style names
// ("aes128gcm16", "aes256ctr", "aes192gmac", "chacha20poly1305", "3des") and
// the IANA names ("ENCR_AES_GCM_16"); case, '-' and '_' do not matter. A name
// without an AES key size ("aes-gcm16", "ENCR_AES_CBC") returns keyBits 0,
// to be filled in from elsewhere (an IKE Key Length attribute). AES-GCM ICV
// sizes may be given in octets or bits ("aes128gcm16" or "aes128gcm128");
// "aes128gcm" means the 16-octet ICV.
func EncrByName(name string) (id EncrID, keyBits int, err error) {
	n := strings.TrimPrefix(NormalizeName(name), "encr")
	if e, ok := encrNames[n]; ok {
		return e.id, e.bits, nil
	}
	n = strings.TrimPrefix(n, "nullauth") // ENCR_NULL_AUTH_AES_GMAC
	if rest, ok := strings.CutPrefix(n, "aes"); ok {
		bits, rest := cutKeyBits(rest)
		mode := rest
		var icv string
		for _, m := range []string{"cbc", "ctr", "gcm", "gmac"} {
			if after, ok := strings.CutPrefix(rest, m); ok {
				mode, icv = m, after
				break
			}
		}
		if bits == 0 && icv != "" && mode != "gcm" {
			bits, icv = cutKeyBits(icv) // "aescbc256"
		}
		switch {
		case mode == "" && icv == "" && rest == "": // "aes128": AES-CBC, as strongSwan reads it
			return EncrAESCBC, bits, nil
		case mode == "cbc" && icv == "":
			return EncrAESCBC, bits, nil
		case mode == "ctr" && icv == "":
			return EncrAESCTR, bits, nil
		case mode == "gmac" && icv == "":
			return EncrNullAuthAESGMAC, bits, nil
		case mode == "gcm":
			switch icv {
			case "", "16", "128":
				return EncrAESGCM16, bits, nil
			case "12", "96":
				return EncrAESGCM12, bits, nil
			case "8", "64":
				return EncrAESGCM8, bits, nil
			}
		}
	}
	return 0, 0, xe.Errorf(xe.UnknownAlgorithm, "suite: unknown encryption algorithm %q", name)
}

// cutKeyBits removes a leading AES key size in bits from s.
func cutKeyBits(s string) (bits int, rest string) {
	for _, b := range []int{128, 192, 256} {
		if after, ok := strings.CutPrefix(s, fmt.Sprint(b)); ok {
			return b, after
		}
	}
	return 0, s
}

// integNames maps normalised integrity algorithm names to their IDs.
var integNames = map[string]IntegID{
	"none": IntegNone,

	"md5":            IntegHMACMD596,
	"hmacmd5":        IntegHMACMD596,
	"hmacmd596":      IntegHMACMD596,
	"authhmacmd596":  IntegHMACMD596,
	"sha":            IntegHMACSHA196,
	"sha1":           IntegHMACSHA196,
	"hmacsha":        IntegHMACSHA196,
	"hmacsha1":       IntegHMACSHA196,
	"hmacsha196":     IntegHMACSHA196,
	"authhmacsha196": IntegHMACSHA196,
	"aesxcbc":        IntegAESXCBC96,
	"xcbc":           IntegAESXCBC96,
	"aesxcbc96":      IntegAESXCBC96,
	"aesxcbcmac96":   IntegAESXCBC96,
	"authaesxcbc96":  IntegAESXCBC96,
	"aescmac":        IntegAESCMAC96,
	"cmac":           IntegAESCMAC96,
	"aescmac96":      IntegAESCMAC96,
	"authaescmac96":  IntegAESCMAC96,
	"aes128gmac":     IntegAES128GMAC,
	"authaes128gmac": IntegAES128GMAC,
	"aes192gmac":     IntegAES192GMAC,
	"authaes192gmac": IntegAES192GMAC,
	"aes256gmac":     IntegAES256GMAC,
	"authaes256gmac": IntegAES256GMAC,
	"sha256":         IntegHMACSHA256128,
	"sha2256":        IntegHMACSHA256128,
	"hmacsha256":     IntegHMACSHA256128,
	"hmacsha2256":    IntegHMACSHA256128,
	"hmacsha256128":  IntegHMACSHA256128,
	"hmacsha2256128": IntegHMACSHA256128,
	"sha384":         IntegHMACSHA384192,
	"sha2384":        IntegHMACSHA384192,
	"hmacsha384":     IntegHMACSHA384192,
	"hmacsha2384":    IntegHMACSHA384192,
	"hmacsha384192":  IntegHMACSHA384192,
	"hmacsha2384192": IntegHMACSHA384192,
	"sha512":         IntegHMACSHA512256,
	"sha2512":        IntegHMACSHA512256,
	"hmacsha512":     IntegHMACSHA512256,
	"hmacsha2512":    IntegHMACSHA512256,
	"hmacsha512256":  IntegHMACSHA512256,
	"hmacsha2512256": IntegHMACSHA512256,
}

// IntegByName looks up an integrity transform by an operator's name: the
// reference CLI's names ("HMAC-MD5", "HMAC-SHA-1", "HMAC-SHA-2-256"),
// strongSwan-style names ("sha256", "aesxcbc", "aes128gmac") or the IANA
// names ("AUTH_HMAC_SHA2_256_128"); case, '-' and '_' do not matter.
func IntegByName(name string) (IntegID, error) {
	n := NormalizeName(name)
	if id, ok := integNames[n]; ok {
		return id, nil
	}
	// AUTH_HMAC_SHA2_256_128 folds to "authhmacsha2256128".
	if id, ok := integNames[strings.TrimPrefix(n, "auth")]; ok {
		return id, nil
	}
	return 0, xe.Errorf(xe.UnknownAlgorithm, "suite: unknown integrity algorithm %q", name)
}
