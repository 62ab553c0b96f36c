package suite

import "fmt"

// The operator's spelling of each algorithm, the reference CLI's: what
// `ipsec policy -e/-a` and `ike remote` take and what every output shows
// (ipsec netstat, ike netstat, policy -v, remote -v, logs, JSON), so that
// an algorithm has one name everywhere.

// EncrName is the name of an encryption transform with its key size:
// "AES128-GCM16", "AES256-CBC", "3DES-CBC", "CHACHA20-POLY1305".
func EncrName(id EncrID, keyBits int) string {
	switch id {
	case Encr3DES:
		return "3DES-CBC"
	case EncrNull:
		return "NULL_ENC"
	case EncrChaCha20Poly1305:
		return "CHACHA20-POLY1305"
	case EncrAESCBC:
		return fmt.Sprintf("AES%d-CBC", keyBits)
	case EncrAESCTR:
		return fmt.Sprintf("AES%d-CTR", keyBits)
	case EncrAESGCM8:
		return fmt.Sprintf("AES%d-GCM8", keyBits)
	case EncrAESGCM12:
		return fmt.Sprintf("AES%d-GCM12", keyBits)
	case EncrAESGCM16:
		return fmt.Sprintf("AES%d-GCM16", keyBits)
	case EncrNullAuthAESGMAC:
		return fmt.Sprintf("AES%d-GMAC", keyBits)
	}
	return id.String()
}

// IntegName is the name of an integrity transform: "HMAC-SHA-2-256",
// "HMAC-SHA-1", "AES-XCBC", "AES128-GMAC".
func IntegName(id IntegID) string {
	switch id {
	case IntegHMACMD596:
		return "HMAC-MD5"
	case IntegHMACSHA196:
		return "HMAC-SHA-1"
	case IntegHMACSHA256128:
		return "HMAC-SHA-2-256"
	case IntegHMACSHA384192:
		return "HMAC-SHA-2-384"
	case IntegHMACSHA512256:
		return "HMAC-SHA-2-512"
	case IntegAESXCBC96:
		return "AES-XCBC"
	case IntegAESCMAC96:
		return "AES-CMAC"
	case IntegAES128GMAC:
		return "AES128-GMAC"
	case IntegAES192GMAC:
		return "AES192-GMAC"
	case IntegAES256GMAC:
		return "AES256-GMAC"
	}
	return id.String()
}
