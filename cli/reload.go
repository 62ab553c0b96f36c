package cli

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"

	"github.com/sabre-ipsec/sabre/ike"
	"github.com/sabre-ipsec/sabre/ipsec"
	"github.com/sabre-ipsec/sabre/pktbuf"
	"github.com/sabre-ipsec/sabre/sad"
	"github.com/sabre-ipsec/sabre/spd"
	"github.com/sabre-ipsec/sabre/xe"
)

// A reload (SIGHUP, ReloadRC) is a diff between what the previous ike_rc
// runs installed and what the file says now, part by part: a part that is
// unchanged is not touched (its policies keep their IDs and SAs, IKE SAs
// and their Child SAs keep running), a changed one is replaced, a removed
// one is deleted, a new one is added.

// rcUnit is one part of what an ike_rc installs: an IKE remote, a policy
// with the addsa lines that name it (-n), or a command of its own (an
// addsa that matches its policy by selectors, ike debug).
type rcUnit struct {
	key  string
	cmds []Command
	idx  []int  // of cmds in the file's command list
	rec  record // what it installed
}

// isRemote reports whether u is an `ike remote` line.
func (u *rcUnit) isRemote() bool { return strings.HasPrefix(u.key, "remote ") }

// splitUnits groups the checked commands of one file into units.
func splitUnits(cmds []Command) ([]rcUnit, error) {
	var units []rcUnit
	at := map[string]int{} // key -> index in units
	add := func(key string, i int) {
		if j, ok := at[key]; ok {
			units[j].cmds = append(units[j].cmds, cmds[i])
			units[j].idx = append(units[j].idx, i)
			return
		}
		at[key] = len(units)
		units = append(units, rcUnit{key: key, cmds: []Command{cmds[i]}, idx: []int{i}})
	}
	// unique makes the key of a command that is a unit of its own unique:
	// the same line twice is two units.
	seen := map[string]int{}
	unique := func(key string) string {
		seen[key]++
		return fmt.Sprintf("%s #%d", key, seen[key])
	}
	for i, c := range cmds {
		o, err := parseCommand(c.Args, true)
		if err != nil {
			return nil, &lineError{c.File, c.Line, err}
		}
		switch o := o.(type) {
		case ikeRemoteAdd:
			add("remote "+o.r.Name, i)
		case policyAdd:
			add("policy "+o.p.Name, i)
		case addSA:
			if _, ok := at["policy "+o.match.name]; ok && o.match.name != "" {
				add("policy "+o.match.name, i)
			} else {
				add(unique("addsa "+strings.Join(c.Args, "\x00")), i)
			}
		default:
			add(unique("cmd "+strings.Join(c.Args, "\x00")), i)
		}
	}
	return units, nil
}

// attach gives each unit what its commands installed.
func attach(units []rcUnit, recs []record) []rcUnit {
	for i := range units {
		for _, k := range units[i].idx {
			units[i].rec.merge(recs[k])
		}
	}
	return units
}

// sameCmds reports whether two units are made of the same command words
// (where in the file they are does not matter).
func sameCmds(a, b []Command) bool {
	return slices.EqualFunc(a, b, func(x, y Command) bool { return slices.Equal(x.Args, y.Args) })
}

// intact reports whether everything rec installed in the data plane is
// still there (the console may have deleted some of it).
func (env *Env) intact(rec record) bool {
	for _, p := range rec.policies {
		if env.Engine.SPD().Get(p.ID) != p {
			return false
		}
	}
	for _, sa := range rec.sas {
		if sa.State() == sad.Dead {
			return false
		}
	}
	return true
}

// ReloadRC checks the ike_rc file at path and, if it has no error, makes
// the configuration the previous RunRC and ReloadRC runs installed into
// the one it describes, changing only what differs (see the ike_rc manual
// page). What was added otherwise (at the console, by IKE, the daemon's
// bypass policies) stays. On any failure the running configuration is
// what it was, and the error says what happened.
func (env *Env) ReloadRC(path string, out io.Writer) error {
	cmds, err := readRC(path)
	if err != nil {
		return fmt.Errorf("%w\n%s: nothing changed", err, path)
	}
	if env.Engine == nil {
		return fmt.Errorf("%s: no engine", path)
	}
	env.mu.Lock()
	defer env.mu.Unlock()
	_, err = env.reload(path, cmds, false, out)
	return err
}

// reload is ReloadRC with env.mu held. With flushIKE (`ike reload`) every
// IKE SA and every remote is deleted once the file has been checked, and
// the file's remotes are added again. It returns the number of IKE SAs it
// deleted.
func (env *Env) reload(path string, cmds []Command, flushIKE bool, out io.Writer) (int, error) {
	env.pruneKeys()
	st := env.state()
	units, err := splitUnits(cmds)
	if err != nil {
		return 0, fmt.Errorf("%w\n%s: nothing changed", err, path)
	}
	oldAt := map[string]int{}
	for i, u := range st.rc {
		oldAt[u.key] = i
	}
	live := map[string]ike.Remote{}
	if env.IKE != nil {
		for _, r := range env.IKE.Remotes() {
			live[r.Name] = r
		}
	}

	// Plan, touching nothing: which units stay, and the new remotes with
	// their keys loaded (what the IKE daemon would refuse is refused here).
	var remotes []ike.Remote
	zeroRemotes := func() {
		for i := range remotes {
			remotes[i].ZeroPSK()
		}
	}
	kept := map[string]bool{}
	for i := range units {
		u := &units[i]
		j, owned := oldAt[u.key]
		if !u.isRemote() || env.IKE == nil {
			if owned && sameCmds(st.rc[j].cmds, u.cmds) && env.intact(st.rc[j].rec) {
				kept[u.key] = true
			}
			continue
		}
		c := u.cmds[0]
		o, _ := parseCommand(c.Args, true)
		r := o.(ikeRemoteAdd).r
		if err := r.Prepare(); err != nil {
			zeroRemotes()
			return 0, fmt.Errorf("%w\n%s: nothing changed", &lineError{c.File, c.Line, err}, path)
		}
		l, exists := live[r.Name]
		switch {
		case flushIKE:
		case owned && exists && slices.Equal(RemoteArgs(&l), RemoteArgs(&r)) && l.SamePSK(&r):
			kept[u.key] = true
			r.ZeroPSK()
			continue
		case !owned && exists:
			r.ZeroPSK()
			zeroRemotes()
			return 0, fmt.Errorf("%w\n%s: nothing changed", &lineError{c.File, c.Line,
				fmt.Errorf("ike remote -n %s: a remote of that name exists, not added by the ike_rc (delete it with -x first)", r.Name)}, path)
		}
		remotes = append(remotes, r)
	}
	// A kept unit whose SAs belong to a policy that goes (an addsa that
	// found its policy by selectors) goes too; repeat until none does.
	for changed := true; changed; {
		changed = false
		gone := map[uint32]bool{}
		for _, u := range st.rc {
			if !kept[u.key] {
				for _, p := range u.rec.policies {
					gone[p.ID] = true
				}
			}
		}
		for _, u := range st.rc {
			if !kept[u.key] {
				continue
			}
			for _, sa := range u.rec.sas {
				if gone[sa.PolicyID()] {
					delete(kept, u.key)
					changed = true
					break
				}
			}
		}
	}

	// The data-plane changes are tried first on a copy of the SPD, so that
	// what fails there (a name or the traffic of a console policy, say)
	// fails before anything is touched.
	var drop []rcUnit
	for _, u := range st.rc {
		if !kept[u.key] {
			drop = append(drop, u)
		}
	}
	var applyCmds []Command
	var applyIdx []int // index in cmds of each of applyCmds
	for _, u := range units {
		if kept[u.key] || (u.isRemote() && env.IKE != nil) {
			continue
		}
		applyCmds = append(applyCmds, u.cmds...)
		applyIdx = append(applyIdx, u.idx...)
	}
	sortByIndex(applyCmds, applyIdx)
	if err := env.dryRun(drop, applyCmds); err != nil {
		zeroRemotes()
		return 0, fmt.Errorf("%w\n%s: nothing changed", err, path)
	}

	// The IKE SAs go first with `ike reload`, as the reference does.
	ikeSAs := 0
	if flushIKE {
		ikeSAs = env.IKE.Flush()
	}

	// The data plane: remove what goes, then add what is new or changed.
	for i := len(drop) - 1; i >= 0; i-- {
		env.undo(record{policies: drop[i].rec.policies, sas: drop[i].rec.sas})
	}
	recs, err := env.applyRC(applyCmds, out)
	if err == nil && env.IKE != nil {
		var del []string
		for _, u := range drop {
			for _, name := range u.rec.remotes {
				if _, ok := live[name]; ok {
					del = append(del, name)
				}
			}
		}
		if flushIKE {
			del = del[:0]
			for name := range live {
				del = append(del, name)
			}
		}
		var n int
		n, err = env.IKE.ReplaceRemotes(remotes, del)
		if err != nil {
			for i := len(recs) - 1; i >= 0; i-- {
				env.undo(recs[i])
			}
		}
		ikeSAs += n
	}
	if err != nil {
		zeroRemotes()
		return ikeSAs, env.restore(path, kept, drop, err, ikeSAs, flushIKE)
	}

	// Success: the units of the new file, with what they installed.
	all := make([]record, len(cmds))
	for k, i := range applyIdx {
		all[i] = recs[k]
	}
	for i := range units {
		u := &units[i]
		if kept[u.key] {
			u.rec = st.rc[oldAt[u.key]].rec
			continue
		}
		for _, k := range u.idx {
			u.rec.merge(all[k])
		}
		if u.isRemote() && env.IKE != nil {
			o, _ := parseCommand(u.cmds[0].Args, true)
			u.rec.remotes = []string{o.(ikeRemoteAdd).r.Name}
		}
	}
	st.rc, st.rcPath = units, path
	env.pruneKeys()
	added, changed := 0, 0
	for _, u := range units {
		if _, ok := oldAt[u.key]; !ok {
			added++
		} else if !kept[u.key] {
			changed++
		}
	}
	fmt.Fprintf(out, "%s: reloaded: %s unchanged, %d changed, %d added, %d removed\n",
		path, count(len(kept), "part", "parts"), changed, added, len(drop)-changed)
	if ikeSAs > 0 && !flushIKE {
		fmt.Fprintf(out, "%s deleted (negotiated with a changed or removed remote)\n", plural(ikeSAs, "IKE SA"))
	}
	return ikeSAs, nil
}

// dryRun applies cmds to a scratch engine that holds the policies of env's
// SPD (same IDs) but those of drop, checks the SAs they add against env's
// SAD, and returns the first error, if any: what the SPD or the SAD would
// refuse is found before anything is touched.
func (env *Env) dryRun(drop []rcUnit, cmds []Command) error {
	if len(cmds) == 0 {
		return nil
	}
	gone := map[*spd.Policy]bool{}
	for _, u := range drop {
		for _, p := range u.rec.policies {
			gone[p] = true
		}
	}
	var ps []spd.Policy
	for _, p := range env.Engine.SPD().List() {
		if !gone[p] {
			ps = append(ps, *p)
		}
	}
	scratch := ipsec.New(spd.NewDB(), sad.NewDB(), ipsec.Config{Output: func(b *pktbuf.Buffer) { pktbuf.DefaultPool.Put(b) }})
	defer scratch.Close()
	if _, err := scratch.SPD().AddBatch(ps); err != nil {
		return fmt.Errorf("copying the SPD to check the reload: %w", err)
	}
	try := &Env{Engine: scratch, LocalAddr: env.LocalAddr}
	try.mu.Lock()
	defer try.mu.Unlock()
	recs, err := try.applyRC(cmds, io.Discard)
	if err != nil {
		if le := (*lineError)(nil); errors.As(err, &le) {
			return le
		}
		return err
	}
	// The scratch SAD started empty: the SAs the commands add are checked
	// against the real SAD, but for the SAs that go with the dropped parts
	// (RFC 4301 §4.1: SPI, protocol and destination name one SA).
	type saKey struct {
		spi   uint32
		proto sad.Protocol
		dst   netip.Addr
	}
	goneSA, goneID := map[*sad.SA]bool{}, map[uint32]bool{}
	for _, u := range drop {
		for _, sa := range u.rec.sas {
			goneSA[sa] = true
		}
	}
	for p := range gone {
		goneID[p.ID] = true
	}
	inUse := map[saKey]*sad.SA{}
	for _, sa := range env.Engine.SAD().All() {
		if sa.State() != sad.Dead && !goneSA[sa] && !goneID[sa.PolicyID()] {
			inUse[saKey{sa.SPI(), sa.Protocol(), sa.Dst()}] = sa
		}
	}
	for i, rec := range recs {
		sas := rec.sas
		if len(cmds[i].Args) > 1 && cmds[i].Args[1] == "addsa" {
			for _, p := range rec.policies { // created by this addsa
				sas = append(slices.Clone(sas), scratch.SAD().Session(p.ID).SAs()...)
			}
		}
		for _, sa := range sas {
			if old, ok := inUse[saKey{sa.SPI(), sa.Protocol(), sa.Dst()}]; ok {
				return &lineError{cmds[i].File, cmds[i].Line, errorf(xe.Exist,
					"%s: SPI %#x (%v to %v) is in use by an SA of policy %d", addsaCmd, sa.SPI(), sa.Protocol(), sa.Dst(), old.PolicyID())}
			}
		}
	}
	return nil
}

// restore puts back the units a failed reload removed, and returns the
// error with what is true now. env.mu is held.
func (env *Env) restore(path string, kept map[string]bool, drop []rcUnit, cause error, ikeSAs int, flushIKE bool) error {
	st := env.state()
	var cmds []Command
	for _, u := range drop {
		if u.isRemote() && env.IKE != nil {
			continue // remotes are only changed by a reload that succeeds
		}
		cmds = append(cmds, u.cmds...)
	}
	var back []rcUnit
	for _, u := range st.rc {
		if kept[u.key] {
			back = append(back, u)
		}
	}
	note := ""
	if flushIKE {
		note = fmt.Sprintf("; %s deleted before the file was applied", plural(ikeSAs, "IKE SA"))
	}
	recs, err := env.applyRC(cmds, io.Discard)
	if err != nil {
		// The previous file's lines failed this time (the console added
		// something in their way): say so, and forget them.
		st.rc = back
		for _, u := range drop {
			if u.isRemote() && env.IKE != nil {
				st.rc = append(st.rc, u)
			}
		}
		return fmt.Errorf("%w\n%s: reload failed; %d unchanged parts were not touched, but restoring the %d changed or removed parts failed too: %v%s",
			cause, path, len(kept), len(drop), err, note)
	}
	k := 0
	for _, u := range drop {
		if !(u.isRemote() && env.IKE != nil) {
			u.rec = record{}
			for range u.cmds {
				u.rec.merge(recs[k])
				k++
			}
		}
		back = append(back, u)
	}
	st.rc = back
	env.pruneKeys()
	if len(drop) == 0 {
		return fmt.Errorf("%w\n%s: reload failed; nothing changed%s", cause, path, note)
	}
	return fmt.Errorf("%w\n%s: reload failed; the previous configuration is in place: %d parts were not touched, %d changed or removed parts were applied again from the previous file (their manual SAs restart with fresh counters, and IKE negotiates their Child SAs again)%s",
		cause, path, len(kept), len(drop), note)
}

// sortByIndex orders cmds by idx (their order in the file).
func sortByIndex(cmds []Command, idx []int) {
	type pair struct {
		c Command
		i int
	}
	ps := make([]pair, len(cmds))
	for k := range cmds {
		ps[k] = pair{cmds[k], idx[k]}
	}
	slices.SortStableFunc(ps, func(a, b pair) int { return a.i - b.i })
	for k := range ps {
		cmds[k], idx[k] = ps[k].c, ps[k].i
	}
}

// plural returns "1 IKE SA" or "2 IKE SAs".
func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// ikeReload is `ike reload`: the reference's "flushes IKE SAs and the
// remote configuration database, then re-reads the configuration file".
// The file is checked first: if it has an error, nothing is flushed.
type ikeReload struct{}

func (ikeReload) run(env *Env, out io.Writer, _ *record) error {
	if env.IKE == nil {
		return errNoIKE
	}
	st := env.state()
	if st.rcPath == "" {
		return errors.New("ike reload: no ike_rc to re-read (start the daemon with -rc FILE)")
	}
	cmds, err := readRC(st.rcPath)
	if err != nil {
		return fmt.Errorf("ike reload: %w\n%s: nothing changed", err, st.rcPath)
	}
	nRemotes := len(env.IKE.Remotes())
	n, err := env.reload(st.rcPath, cmds, true, out)
	if err != nil {
		return fmt.Errorf("ike reload: %w", err)
	}
	_, err = fmt.Fprintf(out, "ike reload: %s and %s deleted, %s re-read\n",
		plural(n, "IKE SA"), plural(nRemotes, "remote"), st.rcPath)
	return err
}

// CheckRC checks the ike_rc file at path as a daemon would apply it,
// without a daemon: every error of the file (see ParseRC), then what the
// IKE daemon would refuse in each `ike remote` line (no proposal Sabre
// implements, a PSK file that is missing, too open, not the user's), then
// the first command the data plane refuses, applied to env (a scratch
// engine holding the daemon's own policies). Each error is file:line:. On
// success it prints what would be installed.
func (env *Env) CheckRC(path string, out io.Writer) error {
	cmds, err := readRC(path)
	if err != nil {
		return fmt.Errorf("%w\n%s: the daemon would refuse this file", err, path)
	}
	env.mu.Lock()
	defer env.mu.Unlock()
	var errs []error
	var rest []Command
	remotes := 0
	for _, c := range cmds {
		o, err := parseCommand(c.Args, true)
		if err != nil {
			errs = append(errs, &lineError{c.File, c.Line, err})
			continue
		}
		ra, ok := o.(ikeRemoteAdd)
		if !ok {
			rest = append(rest, c)
			continue
		}
		r := ra.r
		if err := r.Prepare(); err != nil {
			errs = append(errs, &lineError{c.File, c.Line, err})
		}
		r.ZeroPSK()
		remotes++
	}
	before := len(env.Engine.SPD().List())
	if _, err := env.applyRC(rest, io.Discard); err != nil {
		if le := (*lineError)(nil); errors.As(err, &le) {
			err = le
		}
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		slices.SortStableFunc(errs, func(a, b error) int {
			la, _ := a.(*lineError)
			lb, _ := b.(*lineError)
			if la == nil || lb == nil {
				return 0
			}
			return la.line - lb.line
		})
		return fmt.Errorf("%w\n%s: %s: the daemon would refuse this file", errors.Join(errs...), path, count(len(errs), "error", "errors"))
	}
	_, err = fmt.Fprintf(out, "%s: OK: %s: %s, %s, %s would be installed\n", path,
		count(len(cmds), "command", "commands"), count(len(env.Engine.SPD().List())-before, "policy", "policies"),
		count(remotes, "remote", "remotes"), count(env.Engine.SAD().Len(), "SA", "SAs"))
	return err
}
