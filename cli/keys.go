package cli

import (
	"encoding/hex"
	"strings"

	"github.com/sabre-ipsec/sabre/sad"
	"github.com/sabre-ipsec/sabre/xe"
)

// Key material on the command line. Keys are never echoed: errors about a
// key name its option and what is wrong, not the key.

// parseKey parses a hex key: an optional 0x, then hex digits, optionally
// in groups separated by ':' (01:23:45 or 0123:4567).
func parseKey(cmd, opt, v string) ([]byte, error) {
	s := v
	if len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		s = s[2:]
	}
	if s == "" {
		return nil, errorf(xe.BadParam, "%s: %s: empty key", cmd, opt)
	}
	if strings.HasPrefix(s, ":") || strings.HasSuffix(s, ":") || strings.Contains(s, "::") {
		return nil, errorf(xe.BadParam, "%s: %s: misplaced ':' in the key", cmd, opt)
	}
	digits := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ':':
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f', 'A' <= c && c <= 'F':
			digits = append(digits, c)
		default:
			clear(digits)
			return nil, errorf(xe.BadParam, "%s: %s: the key is not hex (character %d)", cmd, opt, i+1+len(v)-len(s))
		}
	}
	if len(digits)%2 != 0 {
		clear(digits)
		return nil, errorf(xe.BadParam, "%s: %s: the key has an odd number of hex digits (%d)", cmd, opt, len(digits))
	}
	key := make([]byte, len(digits)/2)
	hex.Decode(key, digits)
	clear(digits)
	return key, nil
}

// saKeys are copies of an SA's keys kept for `ipsec netstat -k`.
type saKeys struct {
	encrName, integName string
	encr, integ         []byte
}

func (k *saKeys) zero() {
	clear(k.encr)
	clear(k.integ)
}

// pruneKeys forgets, and zeroes, the keys of SAs that are no longer in
// the SAD (deleted, expired, flushed). env.mu is held.
func (env *Env) pruneKeys() {
	st := env.state()
	for sa, k := range st.keys {
		if sa.State() == sad.Dead {
			k.zero()
			delete(st.keys, sa)
		}
	}
	for p := range st.created {
		if env.Engine.SPD().Get(p.ID) != p {
			delete(st.created, p)
		}
	}
}
