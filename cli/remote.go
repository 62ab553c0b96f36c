package cli

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/sabre-ipsec/sabre/ike"
	"github.com/sabre-ipsec/sabre/suite"
)

// remoteOption is one option of `ike remote`: how its value is read into
// an ike.Remote (set) and how a Remote prints it back (args, nil for
// nothing to print). RemoteArgs prints the options in the table's order,
// so ParseRemote(RemoteArgs(r)) is r: a new option is one row with both.
type remoteOption struct {
	letter byte
	value  bool // takes a value; a switch otherwise
	set    func(r *ike.Remote, v string) error
	args   func(r *ike.Remote) []string
}

// remoteOptions are the options of `ike remote`, in the order RemoteArgs
// prints them and ParseRemote checks their values (the first error found
// is the one reported).
var remoteOptions = []remoteOption{
	{'n', true, func(r *ike.Remote, v string) error { r.Name = v; return nil },
		func(r *ike.Remote) []string { return []string{r.Name} }},
	{'z', true, func(r *ike.Remote, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n != 2 {
			return fmt.Errorf("ike remote: -z %q: only IKE version 2 is supported", v)
		}
		r.Version = n
		return nil
	}, func(r *ike.Remote) []string { return []string{strconv.Itoa(r.Version)} }},
	{'w', false, func(r *ike.Remote, _ string) error { r.Initiate = true; return nil },
		func(r *ike.Remote) []string { return switchArgs(r.Initiate) }},
	{'u', false, func(r *ike.Remote, _ string) error { r.Accept = true; return nil },
		func(r *ike.Remote) []string { return switchArgs(r.Accept) }},
	{'a', true, func(r *ike.Remote, v string) error { return parseList('a', v, suite.IntegByName, &r.Integ) },
		func(r *ike.Remote) []string { return listArgs(r.Integ, ike.IntegName) }},
	{'e', true, func(r *ike.Remote, v string) error {
		for _, n := range strings.Split(v, ",") {
			id, bits, err := suite.EncrByName(n)
			if err != nil {
				return fmt.Errorf("ike remote: -e: %v", err)
			}
			if id == suite.EncrNull || id == suite.EncrNullAuthAESGMAC {
				return fmt.Errorf("ike remote: -e %q: the IKE SA must be encrypted", n)
			}
			if bits == 0 && ike.KeyedEncr(id) {
				return fmt.Errorf("ike remote: -e %q: give the key size, e.g. AES128-GCM16 or AES256-CBC", n)
			}
			r.Encr = append(r.Encr, ike.EncrAlg{ID: id, KeyBits: bits})
		}
		return nil
	}, func(r *ike.Remote) []string { return listArgs(r.Encr, ike.EncrAlg.String) }},
	{'p', true, func(r *ike.Remote, v string) error { return parseList('p', v, ike.PRFByName, &r.PRF) },
		func(r *ike.Remote) []string { return listArgs(r.PRF, ike.PRFName) }},
	{'d', true, func(r *ike.Remote, v string) error { return parseList('d', v, ike.GroupByName, &r.Groups) },
		func(r *ike.Remote) []string { return listArgs(r.Groups, ike.GroupName) }},
	{'m', true, func(r *ike.Remote, v string) error {
		switch suite.NormalizeName(v) {
		case "presharedkey", "psk":
			r.Method = ike.AuthPSK
			return nil
		case "rsasig":
			return fmt.Errorf("ike remote: -m %s: certificate authentication is not in this build; use PresharedKey", v)
		}
		return fmt.Errorf("ike remote: -m %q: want PresharedKey", v)
	}, func(r *ike.Remote) []string { return []string{r.Method.String()} }},
	{'h', true, func(r *ike.Remote, v string) error { r.PSKFile = v; return nil },
		func(r *ike.Remote) []string { return stringArgs(r.PSKFile) }},
	{'f', true, func(r *ike.Remote, v string) (err error) {
		if r.RemoteID, err = ike.ParseIdentity(v); err != nil {
			return fmt.Errorf("ike remote: -f: %v", err)
		}
		return nil
	}, func(r *ike.Remote) []string { return identityArgs(r.RemoteID) }},
	{'g', true, func(r *ike.Remote, v string) (err error) {
		if r.LocalID, err = ike.ParseIdentity(v); err != nil {
			return fmt.Errorf("ike remote: -g: %v", err)
		}
		return nil
	}, func(r *ike.Remote) []string { return identityArgs(r.LocalID) }},
	{'r', true, func(r *ike.Remote, v string) (err error) {
		addr, port, _ := strings.Cut(v, ",")
		if r.Address, err = netip.ParseAddr(addr); err != nil {
			return fmt.Errorf("ike remote: -r %q: %v", v, err)
		}
		if port != "" {
			p, err := strconv.ParseUint(port, 10, 16)
			if err != nil || p == 0 {
				return fmt.Errorf("ike remote: -r %q: bad port %q", v, port)
			}
			r.Port = uint16(p)
		}
		return nil
	}, func(r *ike.Remote) []string {
		if !r.Address.IsValid() {
			return nil
		}
		addr := r.Address.String()
		if r.Port != 500 {
			addr += "," + strconv.Itoa(int(r.Port))
		}
		return []string{addr}
	}},
	{'i', true, func(r *ike.Remote, v string) (err error) {
		if r.Retransmit, err = retransmitInterval(v); err != nil {
			return fmt.Errorf("ike remote: -i %q: %v", v, err)
		}
		return nil
	}, func(r *ike.Remote) []string { return []string{r.Retransmit.String()} }},
	{'t', true, func(r *ike.Remote, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > ike.MaxRetransmitTries {
			return fmt.Errorf("ike remote: -t %q: want a number of retransmissions from 1 to %d", v, ike.MaxRetransmitTries)
		}
		r.RetransmitTries = n
		return nil
	}, func(r *ike.Remote) []string { return []string{strconv.Itoa(r.RetransmitTries)} }},
	{'I', true, func(r *ike.Remote, v string) (err error) {
		if r.RetransmitLimit, err = retransmitInterval(v); err != nil {
			return fmt.Errorf("ike remote: -I %q: %v", v, err)
		}
		return nil
	}, func(r *ike.Remote) []string { return []string{r.RetransmitLimit.String()} }},
	{'l', true, func(r *ike.Remote, v string) (err error) {
		if r.Lifetime, err = remoteDuration(v); err != nil {
			return fmt.Errorf("ike remote: -l %q: %v", v, err)
		}
		return nil
	}, func(r *ike.Remote) []string { return []string{r.Lifetime.String()} }},
	{'U', false, func(r *ike.Remote, _ string) error { r.ForceEncap = true; return nil },
		func(r *ike.Remote) []string { return switchArgs(r.ForceEncap) }},
	// Liveness and start actions (ike/dpd.go).
	{'D', true, func(r *ike.Remote, v string) (err error) {
		if v == "off" || v == "0" {
			r.DPDOff = true
		} else if r.DPDDelay, err = remoteDuration(v); err != nil {
			return fmt.Errorf("ike remote: -D %q: %v (or off)", v, err)
		}
		return nil
	}, func(r *ike.Remote) []string {
		switch {
		case r.DPDOff:
			return []string{"off"}
		case r.DPDDelay > 0:
			return []string{r.DPDDelay.String()}
		}
		return nil
	}},
	{'T', true, func(r *ike.Remote, v string) (err error) {
		if r.DPDTimeout, err = remoteDuration(v); err != nil {
			return fmt.Errorf("ike remote: -T %q: %v", v, err)
		}
		return nil
	}, func(r *ike.Remote) []string {
		if r.DPDTimeout == 0 {
			return nil
		}
		return []string{r.DPDTimeout.String()}
	}},
	{'A', true, func(r *ike.Remote, v string) (err error) {
		if r.DPDAction, err = ike.ParseDPDAction(v); err != nil {
			return fmt.Errorf("ike remote: -A %q: %v", v, err)
		}
		return nil
	}, func(r *ike.Remote) []string {
		if r.DPDAction == ike.DPDTrap {
			return nil
		}
		return []string{r.DPDAction.String()}
	}},
	{'S', true, func(r *ike.Remote, v string) (err error) {
		if r.StartAction, err = ike.ParseStartAction(v); err != nil {
			return fmt.Errorf("ike remote: -S %q: %v", v, err)
		}
		return nil
	}, func(r *ike.Remote) []string {
		if r.StartAction == ike.StartTrap {
			return nil
		}
		return []string{r.StartAction.String()}
	}},
	// The reference's certificate options: known, so that a line of the
	// reference's §5.2 is refused for what it asks, after its -m RSASIG.
	{'b', true, noCertificates('b'), noArgs},
	{'c', true, noCertificates('c'), noArgs},
}

func noCertificates(letter byte) func(*ike.Remote, string) error {
	return func(_ *ike.Remote, v string) error {
		return fmt.Errorf("ike remote: -%c %q: X.509 certificates are not in this build; use -m PresharedKey", letter, v)
	}
}

func noArgs(*ike.Remote) []string { return nil }

// remoteSpec is the getopt spec of remoteOptions.
var remoteSpec = func() optSpec {
	var b strings.Builder
	for _, o := range remoteOptions {
		b.WriteByte(o.letter)
		if o.value {
			b.WriteByte(':')
		}
	}
	return optSpec(b.String())
}()

// ParseRemote parses the options of `ike remote` (the reference's §4.8):
//
//	-n name -z 2 -w -u -a <integ list> -e <encr list> -p <prf list>
//	-d <group list> -m PresharedKey|PSK -h <psk file> -f <peer id>
//	-g <local id> -r <peer address>[,port] -i <retransmit> -l <lifetime>
//	-t <retransmissions> -I <longest retransmission interval> -U
//	-D <dpd delay>|off -T <dpd timeout> -A clear|restart|trap
//	-S start|trap|none
//
// Lists are comma-separated. Besides the reference's names (3DES-CBC,
// AES128-CBC, HMAC-SHA-2-256, MODP2048) modern ones work: AES128-GCM16,
// AES256-GCM16, CHACHA20-POLY1305, PRFSHA384, ECP256, ECP384, ECP521,
// CURVE25519. An AEAD cipher needs no -a. -i, -I and -l take seconds or a
// Go duration ("500ms", "8h"). -t and -I are Sabre's: how many times a
// request is retransmitted before the exchange fails, and the interval the
// doubling of -i stops at. -U UDP-encapsulates ESP where no NAT is
// (strongSwan's encap = yes). -D, -T, -A and -S are Sabre's too
// (ike/dpd.go): the liveness check's delay and timeout, what follows a
// dead peer, and the start action. The PSK file is not read here (see
// ike.Remote.LoadPSK).
func ParseRemote(args []string) (ike.Remote, error) {
	r := ike.Remote{Version: 2, Retransmit: ike.DefaultRetransmit, Lifetime: ike.DefaultIKELifetime, Port: 500,
		RetransmitTries: ike.DefaultRetransmitTries, RetransmitLimit: ike.DefaultRetransmitLimit}
	o, err := parseOpts("ike remote", args, remoteSpec, nil)
	if err != nil {
		return r, err
	}
	for _, opt := range remoteOptions {
		if v, ok := o.get(opt.letter); ok {
			if err := opt.set(&r, v); err != nil {
				return r, err
			}
		}
	}
	if !o.has('I') && r.RetransmitLimit < r.Retransmit {
		r.RetransmitLimit = r.Retransmit
	}
	return r, validRemote(&r)
}

// RemoteArgs returns r as `ike remote` options, the inverse of ParseRemote
// (for `ike commands`, `ike remote -v` and the comparison of a reload).
func RemoteArgs(r *ike.Remote) []string {
	var a []string
	for _, opt := range remoteOptions {
		if v := opt.args(r); v != nil {
			a = append(a, "-"+string(opt.letter))
			if opt.value {
				a = append(a, v...)
			}
		}
	}
	return a
}

func switchArgs(on bool) []string {
	if on {
		return []string{}
	}
	return nil
}

func stringArgs(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

func identityArgs(id ike.Identity) []string {
	if id.Type == 0 {
		return nil
	}
	return []string{id.String()}
}

// parseList parses the comma-separated list of option letter with byName,
// appending to l.
func parseList[T any](letter byte, v string, byName func(string) (T, error), l *[]T) error {
	for _, n := range strings.Split(v, ",") {
		id, err := byName(n)
		if err != nil {
			return fmt.Errorf("ike remote: -%c: %v", letter, err)
		}
		*l = append(*l, id)
	}
	return nil
}

// listArgs prints a list option as one comma-separated word; an empty list
// prints nothing.
func listArgs[T any](l []T, name func(T) string) []string {
	if len(l) == 0 {
		return nil
	}
	s := make([]string, len(l))
	for i, v := range l {
		s[i] = name(v)
	}
	return []string{strings.Join(s, ",")}
}

func validRemote(r *ike.Remote) error {
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
	case r.StartAction == ike.StartStart && !r.Initiate:
		return fmt.Errorf("ike remote %s: -S start needs -w (initiate) and -r", r.Name)
	case r.DPDAction == ike.DPDRestart && !r.Initiate:
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

// retransmitInterval parses -i or -I: a duration remoteDuration takes, at
// most ike.MaxRetransmitOption.
func retransmitInterval(s string) (time.Duration, error) {
	if n, err := strconv.ParseFloat(s, 64); err == nil && n > ike.MaxRetransmitOption.Seconds() {
		return 0, fmt.Errorf("longer than %v", ike.MaxRetransmitOption)
	}
	d, err := remoteDuration(s)
	if err == nil && d > ike.MaxRetransmitOption {
		err = fmt.Errorf("longer than %v", ike.MaxRetransmitOption)
	}
	return d, err
}

// Bounds of the durations of `ike remote`: below a millisecond is no
// timer, and beyond a year (time.Duration ends at 292 years) is a typo.
const (
	minRemoteDuration = time.Millisecond
	maxRemoteDuration = 365 * 24 * time.Hour
)

// remoteDuration parses seconds ("30", "0.5") or a Go duration ("500ms",
// "8h") between minRemoteDuration and maxRemoteDuration.
func remoteDuration(s string) (time.Duration, error) {
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
