package spd

import (
	"strconv"
	"strings"

	"github.com/sabre-ipsec/sabre/xe"
)

// Flags are the reference's SP_* policy flags, bitwise ORed. The bit values
// are Sabre's own; String and ParseFlags use the reference's names.
type Flags uint32

// The flags, in the reference's order.
const (
	FlagProtoAH          Flags = 1 << iota // SP_PROTO_AH: protect with AH
	FlagProtoESP                           // SP_PROTO_ESP: protect with ESP
	FlagCheckReplay                        // SP_CHECK_REPLAY: anti-replay on inbound SAs
	FlagCheckESPPad                        // SP_CHECK_ESP_PAD: verify ESP padding is 1, 2, 3, ...
	FlagFullECN                            // SP_FULL_ECN: RFC 6040 ECN tunnelling instead of RFC 4301's
	FlagDFCopy                             // SP_DF_COPY: outer DF copied from the inner header
	FlagDFSet                              // SP_DF_SET: outer DF set (neither DF flag: cleared)
	FlagKeynegManual                       // SP_KEYNEG_MANUAL: SAs are keyed manually, never by IKE
	FlagTxDummyPkt                         // SP_TX_DUMMY_PKT: send RFC 4303 §2.6 dummy packets
	FlagTxTFCPadding                       // SP_TX_TFC_PADDING: add RFC 4303 §2.7 TFC padding
	FlagAuthSHA2ICVShort                   // SP_AUTH_SHA2_ICV_SHORT: 96-bit HMAC-SHA2 ICVs

	// AllFlags is every flag defined; other bits are invalid.
	AllFlags = FlagAuthSHA2ICVShort<<1 - 1
)

var flagNames = []struct {
	f    Flags
	name string
}{
	{FlagProtoAH, "SP_PROTO_AH"},
	{FlagProtoESP, "SP_PROTO_ESP"},
	{FlagCheckReplay, "SP_CHECK_REPLAY"},
	{FlagCheckESPPad, "SP_CHECK_ESP_PAD"},
	{FlagFullECN, "SP_FULL_ECN"},
	{FlagDFCopy, "SP_DF_COPY"},
	{FlagDFSet, "SP_DF_SET"},
	{FlagKeynegManual, "SP_KEYNEG_MANUAL"},
	{FlagTxDummyPkt, "SP_TX_DUMMY_PKT"},
	{FlagTxTFCPadding, "SP_TX_TFC_PADDING"},
	{FlagAuthSHA2ICVShort, "SP_AUTH_SHA2_ICV_SHORT"},
}

// String lists the set flags by their reference names, joined by "|".
func (f Flags) String() string {
	var names []string
	for _, n := range flagNames {
		if f&n.f != 0 {
			names = append(names, n.name)
			f &^= n.f
		}
	}
	if f != 0 || len(names) == 0 {
		names = append(names, "0x"+strings.ToUpper(hex32(uint32(f))))
	}
	return strings.Join(names, "|")
}

// ParseFlag returns the flag named name (e.g. "SP_CHECK_REPLAY").
func ParseFlag(name string) (Flags, bool) {
	for _, n := range flagNames {
		if strings.EqualFold(n.name, name) {
			return n.f, true
		}
	}
	return 0, false
}

// ParseFlags parses flags as String writes them: names separated by "|"
// or ",", case-insensitive, with or without the "SP_" prefix, or numbers
// such as "0x6". The empty string is no flags.
func ParseFlags(s string) (Flags, error) {
	var f Flags
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == '|' || r == ',' }) {
		part = strings.TrimSpace(part)
		if n, err := strconv.ParseUint(part, 0, 32); err == nil {
			f |= Flags(n)
			continue
		}
		name := part
		if !strings.HasPrefix(strings.ToUpper(name), "SP_") {
			name = "SP_" + name
		}
		flag, ok := ParseFlag(name)
		if !ok {
			return 0, xe.Errorf(xe.BadParam, "spd: flags %q: unknown flag %q", s, part)
		}
		f |= flag
	}
	return f, nil
}

func hex32(v uint32) string {
	const digits = "0123456789abcdef"
	if v == 0 {
		return "0"
	}
	var b [8]byte
	i := len(b)
	for v > 0 {
		i--
		b[i] = digits[v&15]
		v >>= 4
	}
	return string(b[i:])
}
