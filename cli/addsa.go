package cli

import (
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/sabre-ipsec/sabre/classify"
	"github.com/sabre-ipsec/sabre/ipsec"
	"github.com/sabre-ipsec/sabre/sad"
	"github.com/sabre-ipsec/sabre/spd"
	"github.com/sabre-ipsec/sabre/xe"
)

// `ipsec addsa` and `ipsec delsa`: manually keyed SA pairs.

const (
	addsaCmd = "ipsec addsa"
	delsaCmd = "ipsec delsa"
	// addsaSpec: the reference's options, then Sabre's (-n -l -L -N -u -k -R).
	addsaSpec optSpec = "a:b:c:e:f:g:m:p:r:s:d:w:x:y:z:n:l:L:Nu:k:R:"
	delsaSpec optSpec = "d:p:s:n:l:"
)

// policyMatch is how addsa and delsa find their policy: by name, or by
// exact selectors and protocol (and priority, if given).
type policyMatch struct {
	name             string
	src, dst         classify.Selector
	srcText, dstText string
	proto            uint8
	protoText        string
	hasProto         bool  // -p given
	priority         uint8 // 0: any
}

func (m policyMatch) String() string {
	if m.name != "" && !m.src.IsValid() {
		return fmt.Sprintf("-n %s", m.name)
	}
	s := fmt.Sprintf("-s %s -d %s -p %s", m.srcText, m.dstText, m.protoText)
	if m.priority != 0 {
		s += fmt.Sprintf(" -l %d", m.priority)
	}
	return s
}

// parseMatch reads -n, -s, -d, -p and -l. Without -n, -s and -d are
// required; with -n they are optional.
func parseMatch(cmd string, o *opts) (policyMatch, error) {
	var m policyMatch
	var err error
	if v, ok := o.get('n'); ok {
		if m.name, err = parseName(cmd, v); err != nil {
			return m, err
		}
	}
	src, hasSrc := o.get('s')
	dst, hasDst := o.get('d')
	if m.name == "" || hasSrc || hasDst {
		if !hasSrc {
			return m, errorf(xe.BadIDType, "%s: -s source selector is required (or -n policy name)", cmd)
		}
		if !hasDst {
			return m, errorf(xe.BadIDType, "%s: -d destination selector is required (or -n policy name)", cmd)
		}
		if m.src, err = parseSelectorOpt(cmd, "-s", src); err != nil {
			return m, err
		}
		if m.dst, err = parseSelectorOpt(cmd, "-d", dst); err != nil {
			return m, err
		}
		if err := checkFamilies(cmd, m.src, m.dst, src, dst); err != nil {
			return m, err
		}
		m.srcText, m.dstText = src, dst
	}
	m.protoText = "any"
	if v, ok := o.get('p'); ok {
		if m.proto, err = parseProto(cmd, v); err != nil {
			return m, err
		}
		if m.src.IsValid() {
			if err := checkProtoFamily(cmd, m.proto, v, m.src.Is4()); err != nil {
				return m, err
			}
		}
		m.protoText, m.hasProto = v, true
	}
	if v, ok := o.get('l'); ok {
		if m.priority, err = parsePriority(cmd, v); err != nil {
			return m, err
		}
	}
	return m, nil
}

// find returns the secure policies that m selects. With a name it is the
// named policy, which must then also agree with the selectors given.
func (m policyMatch) find(cmd string, db *spd.DB) ([]*spd.Policy, error) {
	if m.name != "" {
		p := db.ByName(m.name)
		if p == nil {
			return nil, nil
		}
		if p.Action != spd.Secure {
			return nil, errorf(xe.BadParam, "%s: -n %q: policy %d is a %v policy, not a secure one", cmd, m.name, p.ID, p.Action)
		}
		if m.src.IsValid() && (p.Src != m.src || p.Dst != m.dst || p.Proto != m.proto) {
			return nil, errorf(xe.BadParam, "%s: -n %q: policy %d selects %v -> %v proto %s, not %s", cmd, m.name, p.ID, p.Src, p.Dst, protoName(p.Proto), m)
		}
		if m.hasProto && p.Proto != m.proto {
			return nil, errorf(xe.BadParam, "%s: -p %s: policy %q is for protocol %s", cmd, m.protoText, m.name, protoName(p.Proto))
		}
		if m.priority != 0 && p.Priority != m.priority {
			return nil, errorf(xe.BadParam, "%s: -l %d: policy %q has priority %d", cmd, m.priority, m.name, p.Priority)
		}
		return []*spd.Policy{p}, nil
	}
	var found []*spd.Policy
	for _, p := range db.List() {
		if p.Action == spd.Secure && p.Src == m.src && p.Dst == m.dst && p.Proto == m.proto &&
			(m.priority == 0 || p.Priority == m.priority) {
			found = append(found, p)
		}
	}
	return found, nil
}

// addSA is a parsed `ipsec addsa`.
type addSA struct {
	match  policyMatch
	mode   spd.Mode // 0: not given
	remote netip.Addr
	local  netip.Addr
	esp    bool // -w and -x given
	ah     bool // -y and -z given
	encr   encrAlg
	hasEnc bool
	integ  integAlg
	hasInt bool
	m      ipsec.ManualSA // algorithms, keys, SPIs, ESN, encapsulation, lifetime
	window int            // -R; -1 if not given
}

func parseAddSA(args []string) (op, error) {
	const cmd = addsaCmd
	o, err := parseOpts(cmd, args, addsaSpec, nil)
	if err != nil {
		return nil, err
	}
	a := addSA{window: -1}
	if a.match, err = parseMatch(cmd, o); err != nil {
		return nil, err
	}
	if v, ok := o.get('m'); ok {
		if a.mode, err = parseMode(cmd, v); err != nil {
			return nil, err
		}
	}
	if v, ok := o.get('r'); ok {
		if a.remote, err = parseAddrOpt(cmd, "-r", v); err != nil {
			return nil, err
		}
	}
	if v, ok := o.get('L'); ok {
		if a.local, err = parseAddrOpt(cmd, "-L", v); err != nil {
			return nil, err
		}
	}
	if a.remote.IsValid() && a.local.IsValid() && a.remote.Is4() != a.local.Is4() {
		return nil, errorf(xe.BadAddrRange, "%s: -L %v and -r %v are of different address families", cmd, a.local, a.remote)
	}

	// SPIs, which say which protocols the SAs use.
	spis := []struct {
		letter byte
		dst    *uint32
	}{{'w', &a.m.ESPSPIIn}, {'x', &a.m.ESPSPIOut}, {'y', &a.m.AHSPIIn}, {'z', &a.m.AHSPIOut}}
	for _, s := range spis {
		if v, ok := o.get(s.letter); ok {
			if *s.dst, err = parseSPI(cmd, "-"+string(s.letter), v); err != nil {
				return nil, err
			}
		}
	}
	if err := pairOpts(cmd, o, 'w', 'x', "ESP SPIs"); err != nil {
		return nil, err
	}
	if err := pairOpts(cmd, o, 'y', 'z', "AH SPIs"); err != nil {
		return nil, err
	}
	a.esp, a.ah = o.has('w'), o.has('y')
	if !a.esp && !a.ah {
		return nil, errorf(xe.BadParam, "%s: give the ESP SPIs (-w in, -x out) and/or the AH SPIs (-y in, -z out)", cmd)
	}

	if err := a.parseAlgorithms(o); err != nil {
		return nil, err
	}

	if o.has('N') {
		a.m.ESN = true
	}
	if v, ok := o.get('u'); ok {
		if !a.esp {
			return nil, errorf(xe.BadParam, "%s: -u %q: UDP encapsulation (RFC 3948) is for ESP: give -w and -x", cmd, v)
		}
		if a.ah {
			return nil, errorf(xe.BadParam, "%s: -u %q: AH cannot be UDP-encapsulated (RFC 3948 covers ESP only)", cmd, v)
		}
		src, dst, err := parseEncapPorts(cmd, v)
		if err != nil {
			return nil, err
		}
		a.m.Encap = &sad.UDPEncap{SrcPort: src, DstPort: dst}
	}
	if v, ok := o.get('k'); ok {
		n, err := parseSeconds(cmd, "-k", v)
		if err != nil {
			return nil, err
		}
		a.m.Hard.Time = time.Duration(n) * time.Second
	}
	if v, ok := o.get('R'); ok {
		if a.window, err = parseWindow(cmd, v); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// pairOpts requires options x and y together.
func pairOpts(cmd string, o *opts, x, y byte, what string) error {
	switch {
	case o.has(x) && !o.has(y):
		return errorf(xe.BadParam, "%s: -%c given without -%c: give both %s", cmd, x, y, what)
	case o.has(y) && !o.has(x):
		return errorf(xe.BadParam, "%s: -%c given without -%c: give both %s", cmd, y, x, what)
	}
	return nil
}

// parseAlgorithms reads -a -b -c -e -f -g.
func (a *addSA) parseAlgorithms(o *opts) error {
	const cmd = addsaCmd
	var err error
	if v, ok := o.get('e'); ok {
		if !a.esp {
			return errorf(xe.BadParam, "%s: -e %q: AH does not encrypt (ESP needs -w and -x)", cmd, v)
		}
		if a.encr, err = parseEncr(cmd, "-e", v); err != nil {
			return err
		}
		a.hasEnc = true
	} else if a.esp {
		return errorf(xe.UnknownAlgorithm, "%s: -e encryption algorithm is required for ESP", cmd)
	}
	if v, ok := o.get('a'); ok {
		if a.integ, err = parseInteg(cmd, "-a", v); err != nil {
			return err
		}
		if !a.ah && a.encr.id.IsAEAD() {
			return errorf(xe.BadParam, "%s: -a %q: combined-mode %s takes no authentication algorithm", cmd, v, a.encr.name)
		}
		a.hasInt = true
	} else {
		switch {
		case a.ah:
			return errorf(xe.UnknownAlgorithm, "%s: -a authentication algorithm is required for AH", cmd)
		case a.hasEnc && !a.encr.id.IsAEAD():
			return errorf(xe.UnknownAlgorithm, "%s: -e %q needs an authentication algorithm: give -a", cmd, a.encr.name)
		}
	}
	a.m.Encr, a.m.Integ = a.encr.id, a.integ.id

	keys := []struct {
		letter, alg byte
		use         bool
		name        string
		n           int
		dst         *[]byte
	}{
		{'b', 'a', a.hasInt, a.integ.name, a.integ.keyLen, &a.m.IntegKeyIn},
		{'c', 'a', a.hasInt, a.integ.name, a.integ.keyLen, &a.m.IntegKeyOut},
		{'f', 'e', a.hasEnc && a.encr.keyLen > 0, a.encr.name, a.encr.keyLen, &a.m.EncrKeyIn},
		{'g', 'e', a.hasEnc && a.encr.keyLen > 0, a.encr.name, a.encr.keyLen, &a.m.EncrKeyOut},
	}
	for _, k := range keys {
		v, ok := o.get(k.letter)
		switch {
		case !k.use && ok:
			if k.name != "" {
				return errorf(xe.BadParam, "%s: -%c: %s takes no key", cmd, k.letter, k.name)
			}
			return errorf(xe.BadParam, "%s: -%c: a key without an algorithm (-%c)", cmd, k.letter, k.alg)
		case k.use && !ok:
			return errorf(xe.BadParam, "%s: -%c key is required for %s", cmd, k.letter, k.name)
		case !ok:
			continue
		}
		key, err := parseKey(cmd, "-"+string(k.letter), v)
		if err != nil {
			return err
		}
		if len(key) != k.n {
			clear(key)
			return errorf(xe.BadParam, "%s: -%c: a %d-octet key; %s takes %d%s", cmd, k.letter, len(key), k.name, k.n, saltNote(k.alg, a.encr))
		}
		*k.dst = key
	}
	return nil
}

// saltNote explains an encryption key length that includes a salt.
func saltNote(alg byte, e encrAlg) string {
	if alg != 'e' || e.keyLen == e.bits/8 {
		return ""
	}
	return fmt.Sprintf(" (%d-octet key, then %d-octet salt)", e.bits/8, e.keyLen-e.bits/8)
}

func (a addSA) run(env *Env, out io.Writer, rec *record) error {
	const cmd = addsaCmd
	defer a.zero()
	spdb, sadb := env.Engine.SPD(), env.Engine.SAD()
	found, err := a.match.find(cmd, spdb)
	if err != nil {
		return err
	}
	if len(found) > 1 {
		ids := make([]string, len(found))
		for i, p := range found {
			ids[i] = fmt.Sprint(p.ID)
		}
		return errorf(xe.Exist, "%s: %s matches policies %s: give -n or -l", cmd, a.match, strings.Join(ids, ", "))
	}
	var p *spd.Policy
	created := false
	if len(found) == 1 {
		p = found[0]
		if err := a.agrees(p); err != nil {
			return err
		}
	} else {
		if p, err = a.createPolicy(env); err != nil {
			return err
		}
		created = true
	}

	m := a.m
	if m.Local, err = a.localAddr(env, p); err != nil {
		if created {
			env.deletePolicy(p)
		}
		return err
	}
	if a.window > 0 {
		m.ReplayWindow = a.window
	} else if a.window == 0 && !created && p.Flags&spd.FlagCheckReplay != 0 {
		return errorf(xe.BadParam, "%s: -R 0: policy %d checks replay; its SAs cannot turn that off", cmd, p.ID)
	}
	before := sadb.Session(p.ID).SAs()
	if err := env.Engine.AddManualSA(p.ID, m); err != nil {
		if created {
			env.deletePolicy(p)
		}
		return fmt.Errorf("%s: policy %d: %w", cmd, p.ID, err)
	}
	var added []*sad.SA
	for _, sa := range sadb.Session(p.ID).SAs() {
		if !slices.Contains(before, sa) && a.ownsSPI(sa) {
			added = append(added, sa)
		}
	}
	if created {
		env.state().created[p] = true
		rec.policies = append(rec.policies, p)
	} else {
		rec.sas = append(rec.sas, added...)
	}
	if env.ShowKeys {
		for _, sa := range added {
			env.state().keys[sa] = a.keysOf(sa)
		}
	}
	verb := "added to"
	if created {
		verb = "added with new"
	}
	_, err = fmt.Fprintf(out, "%s %s policy %d%s\n", count(len(added), "SA", "SAs"), verb, p.ID, nameSuffix(p))
	return err
}

func nameSuffix(p *spd.Policy) string {
	if p.Name == "" {
		return ""
	}
	return " (" + p.Name + ")"
}

// agrees checks that the options given fit existing policy p.
func (a addSA) agrees(p *spd.Policy) error {
	const cmd = addsaCmd
	if a.mode != 0 && a.mode != p.Mode {
		return errorf(xe.BadParam, "%s: -m %v: policy %d is in %v mode", cmd, a.mode, p.ID, p.Mode)
	}
	if a.remote.IsValid() && a.remote != p.TunnelRemote {
		if p.TunnelRemote.IsValid() {
			return errorf(xe.BadParam, "%s: -r %v: policy %d's remote endpoint is %v", cmd, a.remote, p.ID, p.TunnelRemote)
		}
		return errorf(xe.BadParam, "%s: -r %v: policy %d has no remote endpoint (its SAs go to its destination)", cmd, a.remote, p.ID)
	}
	pESP, pAH := p.Flags&spd.FlagProtoESP != 0, p.Flags&spd.FlagProtoAH != 0
	switch {
	case pESP && !a.esp:
		return errorf(xe.BadParam, "%s: policy %d uses ESP: give -w and -x", cmd, p.ID)
	case pAH && !a.ah:
		return errorf(xe.BadParam, "%s: policy %d uses AH: give -y and -z", cmd, p.ID)
	case a.esp && !pESP:
		return errorf(xe.BadParam, "%s: -w: policy %d does not use ESP", cmd, p.ID)
	case a.ah && !pAH:
		return errorf(xe.BadParam, "%s: -y: policy %d does not use AH", cmd, p.ID)
	}
	return nil
}

// createPolicy adds the secure, manually keyed policy addsa needs.
func (a addSA) createPolicy(env *Env) (*spd.Policy, error) {
	const cmd = addsaCmd
	if !a.match.src.IsValid() {
		return nil, errorf(xe.PolicyNotFound, "%s: -n %q: no such policy (give -s, -d and -m to create it)", cmd, a.match.name)
	}
	if a.mode == 0 {
		return nil, errorf(xe.PolicyNotFound, "%s: no policy %s: give -m transport|tunnel to create one", cmd, a.match)
	}
	p := spd.Policy{
		Name: a.match.name, Action: spd.Secure, Mode: a.mode, Proto: a.match.proto,
		Priority: a.match.priority, Src: a.match.src, Dst: a.match.dst,
		TunnelRemote: a.remote, Flags: spd.FlagKeynegManual | spd.FlagCheckReplay,
		ReplayWindow: spd.DefaultReplayWindow,
	}
	if a.esp {
		p.Flags |= spd.FlagProtoESP
		p.ESPAlgorithms = []string{a.encr.name}
	}
	if a.ah {
		p.Flags |= spd.FlagProtoAH
	}
	if a.hasInt {
		p.AHAlgorithms = []string{a.integ.name}
	}
	switch {
	case a.window == 0:
		p.Flags &^= spd.FlagCheckReplay
	case a.window > 0:
		p.ReplayWindow = a.window
	}
	switch a.mode {
	case spd.Tunnel:
		if !a.remote.IsValid() {
			return nil, errorf(xe.BadParam, "%s: -r remote endpoint is required in tunnel mode", cmd)
		}
		p.Flags |= spd.FlagDFCopy
		p.TunnelLocal = a.local
		if !p.TunnelLocal.IsValid() {
			l, err := env.localAddr(cmd, a.remote, "-L")
			if err != nil {
				return nil, err
			}
			p.TunnelLocal = l
		}
	case spd.Transport:
		if a.remote.IsValid() && a.remote.Is4() != a.match.src.Is4() {
			return nil, errorf(xe.BadAddrRange, "%s: -r %v: in transport mode the remote must be of the selectors' address family", cmd, a.remote)
		}
	}
	db := env.Engine.SPD()
	id, err := db.Add(p)
	if err != nil {
		return nil, fmt.Errorf("%s: adding policy %s: %w", cmd, a.match, err)
	}
	return db.Get(id), nil
}

// localAddr returns this host's outer address for the SAs of p: -L, or
// what the engine takes from the policy (its tunnel endpoint, or a
// single-address source selector), or the daemon's address toward the
// remote.
func (a addSA) localAddr(env *Env, p *spd.Policy) (netip.Addr, error) {
	if a.local.IsValid() || p.Mode == spd.Tunnel || p.Src.From() == p.Src.To() {
		return a.local, nil
	}
	remote := p.TunnelRemote
	if !remote.IsValid() && p.Dst.From() == p.Dst.To() {
		remote = p.Dst.From()
	}
	if !remote.IsValid() {
		return netip.Addr{}, errorf(xe.BadParam, "%s: policy %d: neither -r nor a single-address -d says where the SAs go", addsaCmd, p.ID)
	}
	return env.localAddr(addsaCmd, remote, "-L")
}

// ownsSPI reports whether sa has one of the SPIs this addsa gave.
func (a addSA) ownsSPI(sa *sad.SA) bool {
	switch sa.Protocol() {
	case sad.ESP:
		return a.esp && (sa.SPI() == a.m.ESPSPIIn || sa.SPI() == a.m.ESPSPIOut)
	case sad.AH:
		return a.ah && (sa.SPI() == a.m.AHSPIIn || sa.SPI() == a.m.AHSPIOut)
	}
	return false
}

// keysOf returns a copy of the keys of sa, one of the SAs this addsa added.
func (a addSA) keysOf(sa *sad.SA) *saKeys {
	k := &saKeys{}
	in := sa.Direction() == sad.Inbound
	pick := func(i, o []byte) []byte {
		if in {
			return slices.Clone(i)
		}
		return slices.Clone(o)
	}
	switch sa.Protocol() {
	case sad.ESP:
		if a.encr.keyLen > 0 {
			k.encrName, k.encr = a.encr.name, pick(a.m.EncrKeyIn, a.m.EncrKeyOut)
		}
		if a.hasInt && !a.encr.id.IsAEAD() {
			k.integName, k.integ = a.integ.name, pick(a.m.IntegKeyIn, a.m.IntegKeyOut)
		}
	case sad.AH:
		k.integName, k.integ = a.integ.name, pick(a.m.IntegKeyIn, a.m.IntegKeyOut)
	}
	return k
}

// zero clears the parsed keys once they have been used.
func (a addSA) zero() {
	clear(a.m.EncrKeyIn)
	clear(a.m.EncrKeyOut)
	clear(a.m.IntegKeyIn)
	clear(a.m.IntegKeyOut)
}

// delSA is a parsed `ipsec delsa`.
type delSA struct{ match policyMatch }

func (delSA) deletes() bool { return true }

func parseDelSA(args []string) (op, error) {
	o, err := parseOpts(delsaCmd, args, delsaSpec, nil)
	if err != nil {
		return nil, err
	}
	m, err := parseMatch(delsaCmd, o)
	if err != nil {
		return nil, err
	}
	return delSA{m}, nil
}

func (d delSA) run(env *Env, out io.Writer, _ *record) error {
	const cmd = delsaCmd
	found, err := d.match.find(cmd, env.Engine.SPD())
	if err != nil {
		return err
	}
	if len(found) == 0 {
		return errorf(xe.PolicyNotFound, "%s: no secure policy %s", cmd, d.match)
	}
	n, policies := 0, 0
	for _, p := range found {
		n += env.Engine.SAD().DeletePolicy(p.ID)
		if env.state().created[p] {
			env.deletePolicy(p)
			policies++
		}
	}
	env.pruneKeys()
	if n == 0 {
		return errorf(xe.SANotFound, "%s: policy %s has no SAs", cmd, d.match)
	}
	msg := "deleted " + count(n, "SA", "SAs")
	switch {
	case policies == 1:
		msg += " and the policy addsa created"
	case policies > 1:
		msg += fmt.Sprintf(" and the %d policies addsa created", policies)
	}
	_, err = fmt.Fprintln(out, msg)
	return err
}
