package cli

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sabre-ipsec/sabre/ike"
	"github.com/sabre-ipsec/sabre/ipsec"
	"github.com/sabre-ipsec/sabre/sad"
	"github.com/sabre-ipsec/sabre/spd"
	"github.com/sabre-ipsec/sabre/xe"
)

// Env is what commands act on.
type Env struct {
	Engine *ipsec.Engine
	// LocalAddr returns this host's address toward remote (for tunnel
	// endpoints and transport SAs when a command does not give one). May be
	// nil in tests: then commands needing it must be given the address
	// explicitly or fail with a clear error.
	LocalAddr func(remote netip.Addr) (netip.Addr, error)
	// ShowKeys lets `ipsec netstat` print key material (off by default;
	// the reference prints keys — we do only when asked, e.g. `ipsec
	// netstat -a -k`).
	ShowKeys bool
	// IKE is the IKEv2 daemon the `ike` commands drive; nil without one.
	IKE *ike.Daemon

	// mu serializes commands: the console and a reload may run at once.
	mu sync.Mutex
	// now is the clock of "time left" in netstat; time.Now when nil. It
	// must read the same time as the SAD's clock.
	now func() time.Time
	st  *envState
}

// envState is what Env remembers between commands. Guarded by Env.mu.
type envState struct {
	// created holds the policies addsa created, which delsa deletes
	// with their SAs.
	created map[*spd.Policy]bool
	// keys holds copies of the keys of SAs that addsa added while
	// ShowKeys was set, for `ipsec netstat -k`. They are zeroed once
	// their SA is gone.
	keys map[*sad.SA]*saKeys
	// rc is what the RunRC and ReloadRC runs installed, part by part,
	// for ReloadRC; rcPath is the file, for `ike reload`.
	rc     []rcUnit
	rcPath string
}

// record lists what commands added, so that it can be removed again.
type record struct {
	policies []*spd.Policy // policies added (their SAs go with them)
	sas      []*sad.SA     // SAs added to policies not in policies
	remotes  []string      // IKE remotes added
}

func (r *record) merge(o record) {
	r.policies = append(r.policies, o.policies...)
	r.sas = append(r.sas, o.sas...)
	r.remotes = append(r.remotes, o.remotes...)
}

// state returns env's state, creating it on first use. env.mu is held.
func (env *Env) state() *envState {
	if env.st == nil {
		env.st = &envState{created: map[*spd.Policy]bool{}, keys: map[*sad.SA]*saKeys{}}
	}
	return env.st
}

func (env *Env) clock() time.Time {
	if env.now != nil {
		return env.now()
	}
	return time.Now()
}

// op is a parsed command, checked as far as it can be without touching the
// engine. run applies it and records in rec what it added.
type op interface {
	run(env *Env, out io.Writer, rec *record) error
}

// deleter is implemented by ops that delete something, which an ike_rc may
// not contain because they cannot be rolled back.
type deleter interface{ deletes() bool }

// Exec runs one command; args[0] is "ipsec" or "ike" ("policy" is taken as
// "ipsec policy", as the reference's examples write it). Output goes to
// out; the error names what was wrong.
func (env *Env) Exec(args []string, out io.Writer) error {
	o, err := parseCommand(args, false)
	if errors.Is(err, errHelp) {
		_, err = io.WriteString(out, helpFor(args))
		return err
	}
	if err != nil {
		return err
	}
	if h, ok := o.(helpOp); ok {
		return h.run(env, out, nil)
	}
	if env.Engine == nil {
		return fmt.Errorf("%s: no engine", strings.Join(args[:min(2, len(args))], " "))
	}
	env.mu.Lock()
	defer env.mu.Unlock()
	env.pruneKeys()
	var rec record
	return o.run(env, out, &rec)
}

// Help returns the manual text a command line asks for ("ipsec help
// [command]", "ike help", "... --help") and whether it asks for one. The
// manual is static, so a client prints it without asking a daemon.
func Help(args []string) (string, bool) {
	o, err := parseCommand(args, false)
	if errors.Is(err, errHelp) {
		return helpFor(args), true
	}
	if h, ok := o.(helpOp); ok && err == nil {
		return h.text, true
	}
	return "", false
}

// ipsecCommand is an `ipsec` subcommand: its parser and manual page.
type ipsecCommand struct {
	parse func(args []string) (op, error)
	man   string
}

// ipsecCommands are the `ipsec` subcommands. (Set in init: help refers
// to the table.)
var ipsecCommands map[string]ipsecCommand

func init() {
	ipsecCommands = map[string]ipsecCommand{
		"policy":  {parsePolicy, manPolicy},
		"addsa":   {parseAddSA, manAddSA},
		"delsa":   {parseDelSA, manDelSA},
		"flush":   {parseFlush, manFlush},
		"netstat": {parseNetstat, manNetstat},
		"help":    {parseHelp, manIntro},
	}
}

// parseCommand parses a whole command line. inRC selects the ike_rc
// rules for ike commands.
func parseCommand(args []string, inRC bool) (op, error) {
	if len(args) == 0 {
		return nil, errors.New("empty command")
	}
	switch args[0] {
	case "ipsec":
		if len(args) < 2 {
			return nil, fmt.Errorf("ipsec: missing command (one of %s; see \"ipsec help\")", commandList())
		}
		c, ok := ipsecCommands[args[1]]
		if !ok {
			return nil, fmt.Errorf("ipsec: unknown command %q (one of %s)", args[1], commandList())
		}
		return c.parse(args[2:])
	case "policy":
		return parsePolicy(args[1:])
	case "ike", "remote":
		return parseIKE(args, inRC)
	}
	return nil, fmt.Errorf("unknown command %q (commands start with \"ipsec\" or \"ike\")", args[0])
}

func commandList() string {
	var names []string
	for n := range ipsecCommands {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// helpFor returns the manual page asked for by a command line with --help.
func helpFor(args []string) string {
	if len(args) >= 2 && args[0] == "ipsec" {
		if c, ok := ipsecCommands[args[1]]; ok {
			return c.man
		}
	}
	if len(args) >= 1 && args[0] == "policy" {
		return manPolicy
	}
	if len(args) >= 1 && (args[0] == "ike" || args[0] == "remote") {
		return manIKE
	}
	return manIntro
}

// helpOp prints manual pages.
type helpOp struct{ text string }

func (h helpOp) run(_ *Env, out io.Writer, _ *record) error {
	_, err := io.WriteString(out, h.text)
	return err
}

// parseHelp parses `ipsec help [command]`.
func parseHelp(args []string) (op, error) {
	switch {
	case len(args) == 0:
		return helpOp{manIntro + "\n" + manPolicy + "\n" + manAddSA + "\n" + manDelSA + "\n" +
			manFlush + "\n" + manNetstat + "\n" + manRC + "\n" + manIKE}, nil
	case len(args) > 1:
		return nil, fmt.Errorf("ipsec help: unexpected argument %q", args[1])
	}
	switch args[0] {
	case "rc", "ike_rc":
		return helpOp{manRC}, nil
	case "ike":
		return helpOp{manIKE}, nil
	case "help":
		return helpOp{manIntro}, nil
	}
	if c, ok := ipsecCommands[args[0]]; ok {
		return helpOp{c.man}, nil
	}
	return nil, fmt.Errorf("ipsec help: no manual page for %q (one of %s, ike_rc, ike)", args[0], commandList())
}

// cmdError is an error whose message names the offending word and which
// wraps an xe code, so that errors.Is(err, xe.UnknownAlgorithm) works.
type cmdError struct {
	msg  string
	code xe.Code
}

func (e *cmdError) Error() string { return e.msg }
func (e *cmdError) Unwrap() error { return e.code }

// errorf returns a *cmdError of code c.
func errorf(c xe.Code, format string, args ...any) error {
	return &cmdError{msg: fmt.Sprintf(format, args...), code: c}
}

// localAddr returns this host's address toward remote by env.LocalAddr.
// option names the option that would have given it, for the message.
func (env *Env) localAddr(cmd string, remote netip.Addr, option string) (netip.Addr, error) {
	if env.LocalAddr == nil {
		return netip.Addr{}, errorf(xe.BadParam, "%s: this host's address toward %v is not known here: give it with %s", cmd, remote, option)
	}
	a, err := env.LocalAddr(remote)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%s: this host's address toward %v (or give %s): %w", cmd, remote, option, err)
	}
	if !a.IsValid() || a.Is4() != remote.Is4() {
		return netip.Addr{}, errorf(xe.BadParam, "%s: this host's address toward %v is %v, not of its family: give %s", cmd, remote, a, option)
	}
	return a.Unmap(), nil
}

// deletePolicy deletes policy p, if it is still in the SPD, and its SAs.
func (env *Env) deletePolicy(p *spd.Policy) {
	db := env.Engine.SPD()
	if db.Get(p.ID) == p {
		db.Delete(p.ID)
	}
	env.Engine.SAD().DeletePolicy(p.ID)
	delete(env.state().created, p)
}

// undo removes what rec lists, newest first.
func (env *Env) undo(rec record) {
	for i := len(rec.sas) - 1; i >= 0; i-- {
		env.Engine.SAD().DeleteSA(rec.sas[i])
	}
	for i := len(rec.policies) - 1; i >= 0; i-- {
		env.deletePolicy(rec.policies[i])
	}
	if env.IKE != nil {
		for _, name := range rec.remotes {
			env.IKE.DeleteRemote(name)
		}
	}
	env.pruneKeys()
}
