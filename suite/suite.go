// Package suite implements the ESP and AH algorithms, named by their IKEv2
// transform IDs (RFC 7296 §3.3.2, IANA "IKEv2 Transform Type 1/3"), behind
// two in-place interfaces the packet engine calls per packet.
package suite

// EncrID is an IKEv2 Transform Type 1 (encryption algorithm) ID.
type EncrID uint16

// Encryption transform IDs.
const (
	Encr3DES             EncrID = 3  // RFC 2451
	EncrNull             EncrID = 11 // RFC 2410; only together with integrity
	EncrAESCBC           EncrID = 12 // RFC 3602
	EncrAESCTR           EncrID = 13 // RFC 3686
	EncrAESGCM8          EncrID = 18 // RFC 4106, 8-octet ICV
	EncrAESGCM12         EncrID = 19 // RFC 4106, 12-octet ICV
	EncrAESGCM16         EncrID = 20 // RFC 4106, 16-octet ICV
	EncrNullAuthAESGMAC  EncrID = 21 // RFC 4543 (ESP)
	EncrChaCha20Poly1305 EncrID = 28 // RFC 7634
)

// IntegID is an IKEv2 Transform Type 3 (integrity algorithm) ID.
type IntegID uint16

// Integrity transform IDs.
const (
	IntegNone          IntegID = 0
	IntegHMACMD596     IntegID = 1  // RFC 2403
	IntegHMACSHA196    IntegID = 2  // RFC 2404
	IntegAESXCBC96     IntegID = 5  // RFC 3566
	IntegAESCMAC96     IntegID = 8  // RFC 4494
	IntegAES128GMAC    IntegID = 9  // RFC 4543 (AH)
	IntegAES192GMAC    IntegID = 10 // RFC 4543 (AH)
	IntegAES256GMAC    IntegID = 11 // RFC 4543 (AH)
	IntegHMACSHA256128 IntegID = 12 // RFC 4868
	IntegHMACSHA384192 IntegID = 13 // RFC 4868
	IntegHMACSHA512256 IntegID = 14 // RFC 4868
)

// ESPConfig selects and keys an ESP transform.
//
// Keys are laid out as IKEv2 KEYMAT and Linux's xfrm take them: for AES-GCM,
// AES-GMAC and AES-CTR the 4-octet salt/nonce follows the AES key (RFC 4106
// §8.1, RFC 4543 §3.2, RFC 3686 §5.1); for ChaCha20-Poly1305 the 4-octet salt
// follows the 32-octet key (RFC 7634 §4).
type ESPConfig struct {
	Encr     EncrID
	EncrKey  []byte
	Integ    IntegID // IntegNone for combined-mode (AEAD) algorithms
	IntegKey []byte
	// ShortICV truncates HMAC-SHA2 ICVs to 96 bits (the reference's
	// SP_AUTH_SHA2_ICV_SHORT) instead of RFC 4868's half-hash length.
	ShortICV bool
}

// ESP protects ESP packets in place. Implementations are safe for concurrent
// use by many goroutines and allocate nothing per packet in steady state.
//
// The esp slice passed to Seal and Open spans one ESP packet: the 8-octet
// ESP header (SPI, low 32 bits of the sequence number), IVLen() octets of IV,
// the payload with its ESP trailer (padding, pad length, next header), and
// ICVLen() octets of ICV.
type ESP interface {
	// Name is the algorithm as an operator reads it, e.g. "aes128gcm16" or
	// "aes256cbc-hmac-sha256-128".
	Name() string
	// IVLen is the length of the IV field.
	IVLen() int
	// BlockLen is the alignment that payload plus trailer must reach (the
	// cipher block size, or 4 for stream and combined modes).
	BlockLen() int
	// ICVLen is the length of the ICV field.
	ICVLen() int
	// FillIV writes a fresh IV for the packet with sequence number seq:
	// the sequence number itself for counter-based modes, which RFC 4106
	// §3.1, RFC 3686 §3 and RFC 7634 §2 allow because it never repeats
	// under one key, and unpredictable random bytes for CBC (RFC 3602 §3).
	FillIV(iv []byte, seq uint64)
	// Seal encrypts the payload and trailer in place under the IV already
	// in the IV field and writes the ICV. seq is the full 64-bit sequence
	// number; its high half is authenticated when esn is set (RFC 4303
	// §2.2.1).
	Seal(esp []byte, seq uint64, esn bool)
	// Open verifies the ICV in constant time and, only if it is valid,
	// decrypts the payload and trailer in place. seqHigh is the inferred
	// high half of the sequence number, used when esn is set. A bad ICV
	// returns an error matching xe.ESPDigestMismatch.
	Open(esp []byte, seqHigh uint32, esn bool) error
	// Close zeroes the keys. The ESP must not be used afterwards.
	Close()
}

// AH computes and verifies AH ICVs (RFC 4302). Implementations are safe for
// concurrent use and allocate nothing per packet in steady state.
//
// The pkt slice passed to Sum and Verify is the whole IP packet as AH covers
// it: mutable IP header fields (and options/extension headers) already
// zeroed by the caller, the AH header with its ICV field at
// pkt[icvOff:icvOff+ICVLen()], and the payload.
type AH interface {
	Name() string
	// ICVLen is the length of the AH ICV field, including any IV that the
	// algorithm carries there (AES-GMAC, RFC 4543 §3.1).
	ICVLen() int
	// Sum fills the ICV field. seq is the full 64-bit sequence number; its
	// high half is authenticated when esn is set (RFC 4302 §3.3.3.1).
	Sum(pkt []byte, icvOff int, seq uint64, esn bool)
	// Verify checks the ICV field in constant time. It may use the ICV field
	// as scratch; the packet is dropped or its AH header removed afterwards.
	// A bad ICV returns an error matching xe.AHDigestMismatch.
	Verify(pkt []byte, icvOff int, seqHigh uint32, esn bool) error
	// Close zeroes the key.
	Close()
}
