package cli

import (
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/sabre-ipsec/sabre/ike"
	"github.com/sabre-ipsec/sabre/spd"
	"github.com/sabre-ipsec/sabre/xe"
)

// `ipsec policy`: add (-n ...), view (-v) and delete (-x) policies.

const (
	policyCmd   = "ipsec policy"
	allPolicies = "ALLPOLICIES"
	// policySpec: the reference's options, then Sabre's (-b -o -R -P -E -F -L -K).
	policySpec optSpec = "a:b:cd:e:g:hk:l:m:n:p:r:s:t:vx:yoR:PEF:L:K:"
)

// secureOnly are the options that only a secure policy takes.
const secureOnly = "acegh" + "kmrty" + "oRPEFLK"

// policyAdd adds one policy.
type policyAdd struct {
	p     spd.Policy // complete but for TunnelLocal when it comes from LocalAddr
	local netip.Addr // -L
}

// policyView shows the policies, or the one named.
type policyView struct{ name string }

// policyDelete deletes the named policy, or all with ALLPOLICIES.
type policyDelete struct{ name string }

func (policyDelete) deletes() bool { return true }

func parsePolicy(args []string) (op, error) {
	o, err := parseOpts(policyCmd, args, policySpec, nil)
	if err != nil {
		return nil, err
	}
	switch {
	case o.has('v'):
		for l := range o.vals {
			if l != 'v' && l != 'n' {
				return nil, fmt.Errorf("%s: -v takes only -n, not -%c", policyCmd, l)
			}
		}
		name, _ := o.get('n')
		return policyView{name}, nil
	case o.has('x'):
		if len(o.vals) > 1 {
			for l := range o.vals {
				if l != 'x' {
					return nil, fmt.Errorf("%s: -x takes no other option, not -%c", policyCmd, l)
				}
			}
		}
		name, _ := o.get('x')
		if name == "" {
			return nil, errorf(xe.BadParam, "%s: -x \"\": empty name", policyCmd)
		}
		return policyDelete{name}, nil
	case len(o.vals) == 0:
		return nil, fmt.Errorf("%s: nothing to do: give -n ... to add a policy, -v to view, -x to delete (see \"ipsec help policy\")", policyCmd)
	}
	return parsePolicyAdd(o)
}

func parsePolicyAdd(o *opts) (op, error) {
	const cmd = policyCmd
	var a policyAdd
	p := &a.p
	var err error

	v, ok := o.get('n')
	if !ok {
		return nil, errorf(xe.BadParam, "%s: -n name is required to add a policy", cmd)
	}
	if p.Name, err = parseName(cmd, v); err != nil {
		return nil, err
	}

	p.Action = spd.Secure
	if v, ok := o.get('b'); ok {
		switch strings.ToLower(v) {
		case "secure":
		case "bypass":
			p.Action = spd.Bypass
		case "drop":
			p.Action = spd.Drop
		default:
			return nil, errorf(xe.BadParam, "%s: -b %q: action must be secure, bypass or drop", cmd, v)
		}
	}
	if p.Action != spd.Secure {
		for i := 0; i < len(secureOnly); i++ {
			if o.has(secureOnly[i]) {
				return nil, errorf(xe.BadParam, "%s: -%c: a %v policy takes only -n -s -d -p -l", cmd, secureOnly[i], p.Action)
			}
		}
	}

	srcText, ok := o.get('s')
	if !ok {
		return nil, errorf(xe.BadIDType, "%s: -s source selector is required", cmd)
	}
	dstText, ok := o.get('d')
	if !ok {
		return nil, errorf(xe.BadIDType, "%s: -d destination selector is required", cmd)
	}
	if p.Src, err = parseSelectorOpt(cmd, "-s", srcText); err != nil {
		return nil, err
	}
	if p.Dst, err = parseSelectorOpt(cmd, "-d", dstText); err != nil {
		return nil, err
	}
	if err := checkFamilies(cmd, p.Src, p.Dst, srcText, dstText); err != nil {
		return nil, err
	}
	if v, ok := o.get('p'); ok {
		if p.Proto, err = parseProto(cmd, v); err != nil {
			return nil, err
		}
		if err := checkProtoFamily(cmd, p.Proto, v, p.Src.Is4()); err != nil {
			return nil, err
		}
	}
	p.Priority = spd.DefaultPriority
	if v, ok := o.get('l'); ok {
		if p.Priority, err = parsePriority(cmd, v); err != nil {
			return nil, err
		}
	}
	if p.Action != spd.Secure {
		return a, nil
	}
	if err := parseSecure(o, &a); err != nil {
		return nil, err
	}
	return a, nil
}

// parseSecure reads the options of a secure policy.
func parseSecure(o *opts, a *policyAdd) error {
	const cmd = policyCmd
	p := &a.p
	var err error

	v, ok := o.get('m')
	if !ok {
		return errorf(xe.BadParam, "%s: -m transport|tunnel is required for a secure policy", cmd)
	}
	if p.Mode, err = parseMode(cmd, v); err != nil {
		return err
	}
	tunnel := p.Mode == spd.Tunnel

	p.Flags = spd.FlagProtoESP
	if v, ok := o.get('t'); ok {
		switch strings.ToUpper(v) {
		case "ESP":
		case "AH":
			p.Flags = spd.FlagProtoAH
		case "AHESP", "AH+ESP", "ESPAH":
			p.Flags = spd.FlagProtoAH | spd.FlagProtoESP
		default:
			return errorf(xe.BadParam, "%s: -t %q: SA type must be ESP, AH or AHESP", cmd, v)
		}
	}
	esp, ah := p.Flags&spd.FlagProtoESP != 0, p.Flags&spd.FlagProtoAH != 0

	if err := parseAlgorithmLists(o, p, esp, ah); err != nil {
		return err
	}

	if v, ok := o.get('r'); ok {
		if p.TunnelRemote, err = parseAddrOpt(cmd, "-r", v); err != nil {
			return err
		}
		if !tunnel && p.TunnelRemote.Is4() != p.Src.Is4() {
			return errorf(xe.BadAddrRange, "%s: -r %q: in transport mode the remote must be of the selectors' address family", cmd, v)
		}
	} else if tunnel {
		return errorf(xe.BadParam, "%s: -r remote endpoint is required in tunnel mode", cmd)
	}
	if v, ok := o.get('L'); ok {
		if !tunnel {
			return errorf(xe.BadParam, "%s: -L %q: a local tunnel endpoint needs -m tunnel", cmd, v)
		}
		if a.local, err = parseAddrOpt(cmd, "-L", v); err != nil {
			return err
		}
		if a.local.Is4() != p.TunnelRemote.Is4() {
			return errorf(xe.BadAddrRange, "%s: -L %q and -r %v are of different address families", cmd, v, p.TunnelRemote)
		}
	}
	if v, ok := o.get('g'); ok {
		switch {
		case v == "":
			return errorf(xe.BadParam, "%s: -g \"\": empty remote name", cmd)
		case o.has('o'):
			return errorf(xe.BadParam, "%s: -g %q: a manually keyed policy (-o) is never negotiated by IKE", cmd, v)
		}
		p.RemoteName = v
	}
	if v, ok := o.get('k'); ok {
		n, err := parseSeconds(cmd, "-k", v)
		if err != nil {
			return err
		}
		p.Lifetime = time.Duration(n) * time.Second
	} else {
		p.Lifetime = spd.DefaultLifetime
	}
	if v, ok := o.get('K'); ok {
		n, err := parseSeconds(cmd, "-K", v)
		if err != nil {
			return err
		}
		p.RekeyTime = time.Duration(n) * time.Second
		if p.RekeyTime >= p.Lifetime {
			return errorf(xe.BadParam, "%s: -K %q: the rekey time must be below the lifetime (-k %d)", cmd, v, int64(p.Lifetime/time.Second))
		}
	}

	// Replay checking is on unless -R 0.
	p.ReplayWindow = spd.DefaultReplayWindow
	p.Flags |= spd.FlagCheckReplay
	if v, ok := o.get('R'); ok {
		n, err := parseWindow(cmd, v)
		if err != nil {
			return err
		}
		if n == 0 {
			p.Flags &^= spd.FlagCheckReplay
		} else {
			p.ReplayWindow = n
		}
	}

	switches := []struct {
		letter byte
		flag   spd.Flags
		check  func() string // a reason to refuse, or ""
	}{
		{'c', spd.FlagTxTFCPadding, func() string {
			if !tunnel || !esp {
				return "TFC padding is supported for ESP in tunnel mode only"
			}
			return ""
		}},
		{'y', spd.FlagTxDummyPkt, func() string {
			if !tunnel || !esp {
				return "dummy packets need ESP in tunnel mode"
			}
			return ""
		}},
		{'h', spd.FlagAuthSHA2ICVShort, func() string { return "" }},
		{'o', spd.FlagKeynegManual, func() string { return "" }},
		{'P', spd.FlagCheckESPPad, func() string {
			if !esp {
				return "the ESP pad check needs ESP (-t ESP or AHESP)"
			}
			return ""
		}},
		{'E', spd.FlagFullECN, func() string {
			if !tunnel {
				return "ECN tunnelling needs -m tunnel"
			}
			return ""
		}},
	}
	for _, s := range switches {
		if !o.has(s.letter) {
			continue
		}
		if why := s.check(); why != "" {
			return errorf(xe.BadParam, "%s: -%c: %s", cmd, s.letter, why)
		}
		p.Flags |= s.flag
	}

	if v, ok := o.get('F'); ok {
		if !tunnel {
			return errorf(xe.BadParam, "%s: -F %q: the outer DF bit needs -m tunnel", cmd, v)
		}
		switch strings.ToLower(v) {
		case "copy":
			p.Flags |= spd.FlagDFCopy
		case "set":
			p.Flags |= spd.FlagDFSet
		case "clear":
		default:
			return errorf(xe.BadParam, "%s: -F %q: DF handling must be copy, set or clear", cmd, v)
		}
	} else if tunnel {
		p.Flags |= spd.FlagDFCopy
	}
	return nil
}

// parsePFSGroup reports whether name in list opt is a key exchange group,
// which selects PFS for the policy's Child SAs (ike.PFSGroups), and
// refuses a group Sabre does not implement.
func parsePFSGroup(cmd, opt, name string) (bool, error) {
	g, err := ike.GroupByName(name)
	if err != nil {
		return false, nil
	}
	if !ike.SupportedGroup(g) {
		return true, errorf(xe.UnknownAlgorithm, "%s: %s %q: PFS group not implemented (use MODP2048 or above, ECP256/384/521 or CURVE25519)", cmd, opt, name)
	}
	return true, nil
}

// parseAlgorithmLists reads -e and -a, checking every name through suite's
// tables and that the lists suit the SA type. Key exchange group names in
// them select PFS (-e for ESP, -a for AH).
func parseAlgorithmLists(o *opts, p *spd.Policy, esp, ah bool) error {
	const cmd = policyCmd
	var nonAEAD string // a non-combined-mode -e algorithm, if any
	if v, ok := o.get('e'); ok {
		if !esp {
			return errorf(xe.BadParam, "%s: -e %q: AH does not encrypt (use -t ESP or AHESP)", cmd, v)
		}
		names, err := splitList(cmd, "-e", v)
		if err != nil {
			return err
		}
		encrs := 0
		for _, n := range names {
			if ok, err := parsePFSGroup(cmd, "-e", n); ok || err != nil {
				if err != nil {
					return err
				}
				continue
			}
			encrs++
			alg, err := parseEncr(cmd, "-e", n)
			if err != nil {
				return err
			}
			if !alg.id.IsAEAD() && nonAEAD == "" {
				nonAEAD = n
			}
		}
		if encrs == 0 {
			return errorf(xe.UnknownAlgorithm, "%s: -e %q: no encryption algorithm, only PFS groups", cmd, v)
		}
		p.ESPAlgorithms = names
	} else if esp {
		return errorf(xe.UnknownAlgorithm, "%s: -e encryption algorithm list is required for ESP", cmd)
	}
	if v, ok := o.get('a'); ok {
		names, err := splitList(cmd, "-a", v)
		if err != nil {
			return err
		}
		integs := 0
		for _, n := range names {
			if ok, err := parsePFSGroup(cmd, "-a", n); ok || err != nil {
				if err != nil {
					return err
				}
				if !ah {
					return errorf(xe.BadParam, "%s: -a %q: an ESP policy lists its PFS groups in -e", cmd, n)
				}
				continue
			}
			integs++
			if _, err := parseInteg(cmd, "-a", n); err != nil {
				return err
			}
		}
		if integs == 0 {
			return errorf(xe.UnknownAlgorithm, "%s: -a %q: no authentication algorithm, only PFS groups", cmd, v)
		}
		if !ah && nonAEAD == "" {
			return errorf(xe.BadParam, "%s: -a %q: the combined-mode ciphers of -e take no authentication algorithm", cmd, v)
		}
		p.AHAlgorithms = names
	} else {
		switch {
		case ah:
			return errorf(xe.UnknownAlgorithm, "%s: -a authentication algorithm list is required for AH", cmd)
		case nonAEAD != "":
			return errorf(xe.UnknownAlgorithm, "%s: -e %q needs an authentication algorithm: give -a", cmd, nonAEAD)
		}
	}
	return nil
}

// resolve returns the policy to add, with its local tunnel endpoint.
func (a policyAdd) resolve(env *Env) (spd.Policy, error) {
	p := a.p
	if p.Action == spd.Secure && p.Mode == spd.Tunnel {
		p.TunnelLocal = a.local
		if !p.TunnelLocal.IsValid() {
			l, err := env.localAddr(fmt.Sprintf("%s -n %s", policyCmd, p.Name), p.TunnelRemote, "-L")
			if err != nil {
				return p, err
			}
			p.TunnelLocal = l
		}
	}
	return p, nil
}

func (a policyAdd) run(env *Env, out io.Writer, rec *record) error {
	p, err := a.resolve(env)
	if err != nil {
		return err
	}
	db := env.Engine.SPD()
	id, err := db.Add(p)
	if err != nil {
		return fmt.Errorf("%s -n %s: %w", policyCmd, p.Name, err)
	}
	rec.policies = append(rec.policies, db.Get(id))
	_, err = fmt.Fprintf(out, "policy %s added (spid %d)\n", p.Name, id)
	return err
}

func (v policyView) run(env *Env, out io.Writer, _ *record) error {
	db := env.Engine.SPD()
	list := db.List()
	if v.name != "" {
		p := db.ByName(v.name)
		if p == nil {
			return errorf(xe.PolicyNotFound, "%s: -n %q: no such policy", policyCmd, v.name)
		}
		list = []*spd.Policy{p}
	}
	if len(list) == 0 {
		_, err := fmt.Fprintln(out, "no policies")
		return err
	}
	for _, p := range list {
		fmt.Fprintf(out, "spid %d: %s\n", p.ID, policyCommandLine(p))
		if p.Flags == 0 {
			fmt.Fprint(out, "    flags none")
		} else {
			fmt.Fprintf(out, "    flags %v", p.Flags)
		}
		if p.Action == spd.Secure {
			lo, hi := p.RekeyWindow()
			fmt.Fprintf(out, ", lifetime %ds, rekey at %s-%s", int64(p.Lifetime/time.Second), secondsOf(lo), secondsOf(hi))
			if p.Flags&spd.FlagCheckReplay != 0 {
				fmt.Fprintf(out, ", replay window %d", p.ReplayWindow)
			}
			if s := env.Engine.SAD().Session(p.ID); s != nil {
				fmt.Fprintf(out, ", %d SAs", len(s.SAs()))
			}
		}
		if _, err := fmt.Fprintln(out); err != nil {
			return err
		}
	}
	return nil
}

// policyCommandLine writes p as the `ipsec policy` line that adds it.
func policyCommandLine(p *spd.Policy) string {
	w := []string{"ipsec", "policy"}
	add := func(opt string, vals ...string) {
		w = append(w, opt)
		for _, v := range vals {
			w = append(w, quoteWord(v))
		}
	}
	if p.Name != "" {
		add("-n", p.Name)
	}
	if p.Action != spd.Secure {
		add("-b", p.Action.String())
	}
	if p.RemoteName != "" {
		add("-g", p.RemoteName)
	}
	if p.Action == spd.Secure {
		switch p.Flags & (spd.FlagProtoAH | spd.FlagProtoESP) {
		case spd.FlagProtoAH:
			add("-t", "AH")
		case spd.FlagProtoAH | spd.FlagProtoESP:
			add("-t", "AHESP")
		default:
			add("-t", "ESP")
		}
		if len(p.ESPAlgorithms) > 0 {
			add("-e", strings.Join(p.ESPAlgorithms, ","))
		}
		if len(p.AHAlgorithms) > 0 {
			add("-a", strings.Join(p.AHAlgorithms, ","))
		}
		add("-m", p.Mode.String())
	}
	add("-p", protoName(p.Proto))
	if p.TunnelRemote.IsValid() {
		add("-r", p.TunnelRemote.String())
	}
	add("-s", p.Src.String())
	add("-d", p.Dst.String())
	add("-l", strconv.Itoa(int(p.Priority)))
	if p.Action != spd.Secure {
		return strings.Join(w, " ")
	}
	if p.Lifetime != spd.DefaultLifetime {
		add("-k", strconv.FormatInt(int64(p.Lifetime/time.Second), 10))
	}
	if p.RekeyTime != 0 {
		add("-K", strconv.FormatInt(int64(p.RekeyTime/time.Second), 10))
	}
	for _, s := range []struct {
		f   spd.Flags
		opt string
	}{
		{spd.FlagTxTFCPadding, "-c"}, {spd.FlagAuthSHA2ICVShort, "-h"}, {spd.FlagTxDummyPkt, "-y"},
		{spd.FlagKeynegManual, "-o"}, {spd.FlagCheckESPPad, "-P"}, {spd.FlagFullECN, "-E"},
	} {
		if p.Flags&s.f != 0 {
			add(s.opt)
		}
	}
	switch {
	case p.Flags&spd.FlagCheckReplay == 0:
		add("-R", "0")
	case p.ReplayWindow != spd.DefaultReplayWindow:
		add("-R", strconv.Itoa(p.ReplayWindow))
	}
	if p.Mode == spd.Tunnel {
		switch {
		case p.Flags&spd.FlagDFSet != 0:
			add("-F", "set")
		case p.Flags&spd.FlagDFCopy == 0:
			add("-F", "clear")
		}
		if p.TunnelLocal.IsValid() {
			add("-L", p.TunnelLocal.String())
		}
	}
	return strings.Join(w, " ")
}

func (d policyDelete) run(env *Env, out io.Writer, _ *record) error {
	db := env.Engine.SPD()
	var policies, sas int
	if d.name == allPolicies {
		list, n := env.flushPolicies()
		policies, sas = len(list), n
	} else {
		p := db.ByName(d.name)
		if p == nil {
			return errorf(xe.PolicyNotFound, "%s: -x %q: no such policy", policyCmd, d.name)
		}
		policies, sas = 1, len(env.Engine.SAD().Session(p.ID).SAs())
		env.deletePolicy(p)
	}
	env.pruneKeys()
	_, err := fmt.Fprintf(out, "deleted %s, %s\n", count(policies, "policy", "policies"), count(sas, "SA", "SAs"))
	return err
}

// secondsOf writes d in seconds, with a decimal only where it has one:
// "2880s", "3.6s".
func secondsOf(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s"
}
