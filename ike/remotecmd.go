package ike

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	ikecrypto "github.com/sabre-ipsec/sabre/ike/crypto"
	"github.com/sabre-ipsec/sabre/suite"
)

// ParseRemote parses the options of `ike remote` (the reference's §4.8):
//
//	-n name -z 2 -w -u -a <integ list> -e <encr list> -p <prf list>
//	-d <group list> -m PresharedKey|PSK -h <psk file> -f <peer id>
//	-g <local id> -r <peer address>[,port] -i <retransmit> -l <lifetime>
//	-t <retransmissions> -I <longest retransmission interval>
//	-D <dpd delay>|off -T <dpd timeout> -A clear|restart|trap
//	-S start|trap|none
//
// Lists are comma-separated. Besides the reference's names (3DES-CBC,
// AES128-CBC, HMAC-SHA-2-256, MODP2048) modern ones work: AES128-GCM16,
// AES256-GCM16, CHACHA20-POLY1305, PRFSHA384, ECP256, ECP384, ECP521,
// CURVE25519. An AEAD cipher needs no -a. -i, -I and -l take seconds or a
// Go duration ("500ms", "8h"). -t and -I are Sabre's: how many times a
// request is retransmitted before the exchange fails, and the interval the
// doubling of -i stops at. -D, -T, -A and -S are Sabre's too (dpd.go):
// the liveness check's delay and timeout, what follows a dead peer, and
// the start action. The PSK file is not read here (see LoadPSK).
func ParseRemote(args []string) (Remote, error) {
	r := Remote{Version: 2, Retransmit: DefaultRetransmit, Lifetime: DefaultIKELifetime, Port: 500}
	r.RetransmitTries, r.RetransmitLimit = DefaultRetransmitTries, DefaultRetransmitLimit
	need := func(i int, opt string) (string, error) {
		if i+1 >= len(args) || strings.HasPrefix(args[i+1], "-") && len(args[i+1]) == 2 {
			return "", fmt.Errorf("ike remote: %s needs a value", opt)
		}
		return args[i+1], nil
	}
	limitGiven := false
	seen := map[string]bool{}
	for i := 0; i < len(args); i++ {
		opt := args[i]
		if seen[opt] {
			return r, fmt.Errorf("ike remote: option %q given twice", opt)
		}
		seen[opt] = true
		switch opt {
		case "-w":
			r.Initiate = true
			continue
		case "-u":
			r.Accept = true
			continue
		}
		val, err := need(i, opt)
		if err != nil {
			return r, err
		}
		i++
		switch opt {
		case "-n":
			r.Name = val
		case "-z":
			v, err := strconv.Atoi(val)
			if err != nil || v != 2 {
				return r, fmt.Errorf("ike remote: -z %q: only IKE version 2 is supported", val)
			}
			r.Version = v
		case "-e":
			for _, n := range strings.Split(val, ",") {
				id, bits, err := suite.EncrByName(n)
				if err != nil {
					return r, fmt.Errorf("ike remote: -e: %v", err)
				}
				if id == suite.EncrNull || id == suite.EncrNullAuthAESGMAC {
					return r, fmt.Errorf("ike remote: -e %q: the IKE SA must be encrypted", n)
				}
				if bits == 0 && keyedEncr(id) {
					return r, fmt.Errorf("ike remote: -e %q: give the key size, e.g. AES128-GCM16 or AES256-CBC", n)
				}
				r.Encr = append(r.Encr, EncrAlg{ID: id, KeyBits: bits})
			}
		case "-a":
			for _, n := range strings.Split(val, ",") {
				id, err := suite.IntegByName(n)
				if err != nil {
					return r, fmt.Errorf("ike remote: -a: %v", err)
				}
				r.Integ = append(r.Integ, id)
			}
		case "-p":
			for _, n := range strings.Split(val, ",") {
				id, err := PRFByName(n)
				if err != nil {
					return r, fmt.Errorf("ike remote: -p: %v", err)
				}
				r.PRF = append(r.PRF, id)
			}
		case "-d":
			for _, n := range strings.Split(val, ",") {
				id, err := GroupByName(n)
				if err != nil {
					return r, fmt.Errorf("ike remote: -d: %v", err)
				}
				r.Groups = append(r.Groups, id)
			}
		case "-m":
			switch suite.NormalizeName(val) {
			case "presharedkey", "psk":
				r.Method = AuthPSK
			case "rsasig":
				return r, fmt.Errorf("ike remote: -m %s: certificate authentication is not in this build; use PresharedKey", val)
			default:
				return r, fmt.Errorf("ike remote: -m %q: want PresharedKey", val)
			}
		case "-h":
			r.PSKFile = val
		case "-f":
			if r.RemoteID, err = ParseIdentity(val); err != nil {
				return r, fmt.Errorf("ike remote: -f: %v", err)
			}
		case "-g":
			if r.LocalID, err = ParseIdentity(val); err != nil {
				return r, fmt.Errorf("ike remote: -g: %v", err)
			}
		case "-r":
			addr, port, _ := strings.Cut(val, ",")
			if r.Address, err = netip.ParseAddr(addr); err != nil {
				return r, fmt.Errorf("ike remote: -r %q: %v", val, err)
			}
			if port != "" {
				p, err := strconv.ParseUint(port, 10, 16)
				if err != nil || p == 0 {
					return r, fmt.Errorf("ike remote: -r %q: bad port %q", val, port)
				}
				r.Port = uint16(p)
			}
		case "-i":
			if r.Retransmit, err = retransmitInterval(val); err != nil {
				return r, fmt.Errorf("ike remote: -i %q: %v", val, err)
			}
		case "-I":
			limitGiven = true
			if r.RetransmitLimit, err = retransmitInterval(val); err != nil {
				return r, fmt.Errorf("ike remote: -I %q: %v", val, err)
			}
		case "-t":
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 || n > MaxRetransmitTries {
				return r, fmt.Errorf("ike remote: -t %q: want a number of retransmissions from 1 to %d", val, MaxRetransmitTries)
			}
			r.RetransmitTries = n
		case "-l":
			if r.Lifetime, err = parseSeconds(val); err != nil {
				return r, fmt.Errorf("ike remote: -l %q: %v", val, err)
			}
		case "-D":
			if val == "off" || val == "0" {
				r.DPDOff = true
			} else if r.DPDDelay, err = parseSeconds(val); err != nil {
				return r, fmt.Errorf("ike remote: -D %q: %v (or off)", val, err)
			}
		case "-T":
			if r.DPDTimeout, err = parseSeconds(val); err != nil {
				return r, fmt.Errorf("ike remote: -T %q: %v", val, err)
			}
		case "-A":
			if r.DPDAction, err = parseDPDAction(val); err != nil {
				return r, fmt.Errorf("ike remote: -A %q: %v", val, err)
			}
		case "-S":
			if r.StartAction, err = parseStartAction(val); err != nil {
				return r, fmt.Errorf("ike remote: -S %q: %v", val, err)
			}
		default:
			return r, fmt.Errorf("ike remote: unknown option %q", opt)
		}
	}
	if !limitGiven && r.RetransmitLimit < r.Retransmit {
		r.RetransmitLimit = r.Retransmit
	}
	return r, r.validate()
}

// retransmitInterval parses -i or -I: a duration parseSeconds takes, at
// most MaxRetransmitOption.
func retransmitInterval(s string) (time.Duration, error) {
	if n, err := strconv.ParseFloat(s, 64); err == nil && n > MaxRetransmitOption.Seconds() {
		return 0, fmt.Errorf("longer than %v", MaxRetransmitOption)
	}
	d, err := parseSeconds(s)
	if err == nil && d > MaxRetransmitOption {
		err = fmt.Errorf("longer than %v", MaxRetransmitOption)
	}
	return d, err
}

// Bounds of the durations of `ike remote`: below a millisecond is no
// timer, and beyond a year (time.Duration ends at 292 years) is a typo.
const (
	minRemoteDuration = time.Millisecond
	maxRemoteDuration = 365 * 24 * time.Hour
)

// parseSeconds parses seconds ("30", "0.5") or a Go duration ("500ms",
// "8h") between minRemoteDuration and maxRemoteDuration.
func parseSeconds(s string) (time.Duration, error) {
	var d time.Duration
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		// Compared as seconds before the conversion, which would
		// overflow (1e10 s is a negative Duration) or be undefined (NaN).
		if math.IsNaN(n) || n <= 0 || n > maxRemoteDuration.Seconds() {
			return 0, fmt.Errorf("want %v .. %v", minRemoteDuration, maxRemoteDuration)
		}
		d = time.Duration(n * float64(time.Second))
	} else if d, err = time.ParseDuration(s); err != nil {
		return 0, fmt.Errorf("want seconds or a duration such as 500ms or 8h (%v .. %v)", minRemoteDuration, maxRemoteDuration)
	}
	if d < minRemoteDuration || d > maxRemoteDuration {
		return 0, fmt.Errorf("want %v .. %v", minRemoteDuration, maxRemoteDuration)
	}
	return d, nil
}

func (r *Remote) validate() error {
	switch {
	case r.Name == "":
		return fmt.Errorf("ike remote: -n <name> is required")
	case len(r.Encr) == 0:
		return fmt.Errorf("ike remote %s: -e <encryption list> is required", r.Name)
	case len(r.PRF) == 0:
		return fmt.Errorf("ike remote %s: -p <prf list> is required", r.Name)
	case len(r.Groups) == 0:
		return fmt.Errorf("ike remote %s: -d <dh group list> is required", r.Name)
	case r.Method == 0:
		return fmt.Errorf("ike remote %s: -m PresharedKey is required", r.Name)
	case !r.Initiate && !r.Accept:
		return fmt.Errorf("ike remote %s: neither -w (initiate) nor -u (accept) given", r.Name)
	case r.Initiate && !r.Address.IsValid():
		return fmt.Errorf("ike remote %s: -w needs -r <peer address>", r.Name)
	case r.StartAction == StartStart && !r.Initiate:
		return fmt.Errorf("ike remote %s: -S start needs -w (initiate) and -r", r.Name)
	case r.DPDAction == DPDRestart && !r.Initiate:
		return fmt.Errorf("ike remote %s: -A restart needs -w (initiate) and -r", r.Name)
	case r.RetransmitLimit < r.Retransmit:
		return fmt.Errorf("ike remote %s: -I %v is shorter than the first interval -i %v", r.Name, r.RetransmitLimit, r.Retransmit)
	}
	for _, e := range r.Encr {
		if !e.ID.IsAEAD() && len(r.Integ) == 0 {
			return fmt.Errorf("ike remote %s: a non-AEAD cipher in -e needs -a <integrity list>", r.Name)
		}
	}
	return nil
}

// Args returns r as `ike remote` options, the inverse of ParseRemote (for
// `ike commands`).
func (r *Remote) Args() []string {
	a := []string{"-n", r.Name, "-z", strconv.Itoa(r.Version)}
	if r.Initiate {
		a = append(a, "-w")
	}
	if r.Accept {
		a = append(a, "-u")
	}
	join := func(n int, f func(int) string) string {
		s := make([]string, n)
		for i := range s {
			s[i] = f(i)
		}
		return strings.Join(s, ",")
	}
	if len(r.Integ) > 0 {
		a = append(a, "-a", join(len(r.Integ), func(i int) string { return integName(r.Integ[i]) }))
	}
	a = append(a, "-e", join(len(r.Encr), func(i int) string { return r.Encr[i].String() }))
	a = append(a, "-p", join(len(r.PRF), func(i int) string { return prfName(r.PRF[i]) }))
	a = append(a, "-d", join(len(r.Groups), func(i int) string { return groupName(r.Groups[i]) }))
	a = append(a, "-m", r.Method.String())
	if r.PSKFile != "" {
		a = append(a, "-h", r.PSKFile)
	}
	if r.RemoteID.Type != 0 {
		a = append(a, "-f", r.RemoteID.String())
	}
	if r.LocalID.Type != 0 {
		a = append(a, "-g", r.LocalID.String())
	}
	if r.Address.IsValid() {
		addr := r.Address.String()
		if r.Port != 500 {
			addr += "," + strconv.Itoa(int(r.Port))
		}
		a = append(a, "-r", addr)
	}
	a = append(a, "-i", r.Retransmit.String(), "-t", strconv.Itoa(r.RetransmitTries), "-I", r.RetransmitLimit.String(), "-l", r.Lifetime.String())
	switch {
	case r.DPDOff:
		a = append(a, "-D", "off")
	case r.DPDDelay > 0:
		a = append(a, "-D", r.DPDDelay.String())
	}
	if r.DPDTimeout > 0 {
		a = append(a, "-T", r.DPDTimeout.String())
	}
	if r.DPDAction != DPDTrap {
		a = append(a, "-A", r.DPDAction.String())
	}
	if r.StartAction != StartTrap {
		a = append(a, "-S", r.StartAction.String())
	}
	return a
}

// integName is the reference's name of an integrity algorithm.
func integName(id suite.IntegID) string {
	switch id {
	case suite.IntegHMACMD596:
		return "HMAC-MD5"
	case suite.IntegHMACSHA196:
		return "HMAC-SHA-1"
	case suite.IntegHMACSHA256128:
		return "HMAC-SHA-2-256"
	case suite.IntegHMACSHA384192:
		return "HMAC-SHA-2-384"
	case suite.IntegHMACSHA512256:
		return "HMAC-SHA-2-512"
	case suite.IntegAESXCBC96:
		return "AES-XCBC"
	case suite.IntegAESCMAC96:
		return "AES-CMAC"
	}
	return id.String()
}

func prfName(id PRFID) string {
	switch id {
	case ikecrypto.PRFHMACMD5:
		return "HMAC-MD5"
	case ikecrypto.PRFHMACSHA1:
		return "HMAC-SHA-1"
	case ikecrypto.PRFHMACSHA2256:
		return "HMAC-SHA-2-256"
	case ikecrypto.PRFHMACSHA2384:
		return "HMAC-SHA-2-384"
	case ikecrypto.PRFHMACSHA2512:
		return "HMAC-SHA-2-512"
	case ikecrypto.PRFAES128XCBC:
		return "AES-XCBC"
	case ikecrypto.PRFAES128CMAC:
		return "AES-CMAC"
	}
	return fmt.Sprintf("PRF%d", id)
}

func groupName(id GroupID) string {
	for n, g := range groupNames {
		if g == id && (strings.HasPrefix(n, "modp") || strings.HasPrefix(n, "ecp") || n == "curve25519") {
			return strings.ToUpper(n)
		}
	}
	return fmt.Sprintf("GROUP%d", id)
}
