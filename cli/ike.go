package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/sabre-ipsec/sabre/ike"
	"github.com/sabre-ipsec/sabre/spd"
)

// errNoIKE is the error of ike commands when the Env has no IKE daemon.
var errNoIKE = errors.New("ike: no IKE daemon in this process")

// parseIKE parses an ike command line: "ike ..." or the reference's bare
// "remote ..." (= "ike remote ...").
func parseIKE(args []string, inRC bool) (op, error) {
	if args[0] == "remote" {
		args = append([]string{"ike"}, args...)
	}
	if slices.Contains(args[1:], "--help") {
		return nil, errHelp
	}
	if len(args) < 2 {
		return nil, errors.New("ike: missing command (remote, netstat, flush, debug, commands, initiate)")
	}
	rest := args[2:]
	switch args[1] {
	case "remote":
		return parseIKERemote(rest)
	case "netstat":
		o, err := parseOpts("ike netstat", rest, "p:rn:j", map[string]byte{"json": 'j'})
		if err != nil {
			return nil, err
		}
		if err := checkIKEVersion("ike netstat", o); err != nil {
			return nil, err
		}
		if o.has('n') && !o.has('r') {
			return nil, errors.New("ike netstat: -n is for use with -r")
		}
		name, _ := o.get('n')
		return ikeNetstat{o.has('p') && !o.has('r'), o.has('r') && !o.has('p'), name, o.has('j')}, nil
	case "flush":
		o, err := parseOpts("ike flush", rest, "p:rn:", nil)
		if err != nil {
			return nil, err
		}
		if err := checkIKEVersion("ike flush", o); err != nil {
			return nil, err
		}
		if o.has('n') && !o.has('r') {
			return nil, errors.New("ike flush: -n is for use with -r")
		}
		name, _ := o.get('n')
		sas := o.has('p') || !o.has('r')
		remotes := o.has('r') || !o.has('p')
		return ikeFlush{sas, remotes, name}, nil
	case "debug":
		o, err := parseOpts("ike debug", rest, "td", nil)
		if err != nil {
			return nil, err
		}
		return ikeDebug{o.has('d'), o.has('t')}, nil
	case "commands":
		o, err := parseOpts("ike commands", rest, "f:", nil)
		if err != nil {
			return nil, err
		}
		f, _ := o.get('f')
		return ikeCommands{f}, nil
	case "initiate":
		o, err := parseOpts("ike initiate", rest, "n:", nil)
		if err != nil {
			return nil, err
		}
		name, ok := o.get('n')
		if !ok {
			return nil, errors.New("ike initiate: -n <policy name> is required")
		}
		return ikeInitiate{name}, nil
	case "help":
		if len(rest) > 0 {
			return nil, fmt.Errorf("ike help: unexpected argument %q", rest[0])
		}
		return helpOp{manIKE}, nil
	case "reload":
		if _, err := parseOpts("ike reload", rest, "", nil); err != nil {
			return nil, err
		}
		return ikeReload{}, nil
	}
	return nil, fmt.Errorf("ike: unknown command %q (remote, netstat, flush, debug, commands, initiate)", args[1])
}

// checkIKEVersion checks the -p of ike netstat and ike flush: in the
// reference -p 1 and -p 2 are IKEv1's phase 1 and phase 2 SAs and -p 3 is
// IKEv2's. IKEv1 is not in this build, so 1 and 2 are refused rather than
// taken for IKEv2.
func checkIKEVersion(cmd string, o *opts) error {
	p, ok := o.get('p')
	switch {
	case !ok || p == "3":
		return nil
	case p == "1" || p == "2":
		return fmt.Errorf("%s: -p %s: IKEv1 phase %s SAs: IKEv1 is not in this build (IKEv2 SAs are -p 3)", cmd, p, p)
	}
	return fmt.Errorf("%s: -p %q: want 3 (IKEv2 SAs; 1 and 2 are IKEv1 phases, not in this build)", cmd, p)
}

func parseIKERemote(args []string) (op, error) {
	if len(args) > 0 && args[0] == "-v" {
		if len(args) == 1 {
			return ikeRemoteView{}, nil
		}
		if len(args) == 3 && args[1] == "-n" {
			return ikeRemoteView{args[2]}, nil
		}
		return nil, fmt.Errorf("ike remote -v: want -v [-n <remote name>], got %q", strings.Join(args, " "))
	}
	if len(args) > 0 && args[0] == "-x" {
		if len(args) != 2 {
			return nil, errors.New("ike remote -x: want -x <remote name>|ALLREMOTES")
		}
		return ikeRemoteDelete{args[1]}, nil
	}
	r, err := ParseRemote(args)
	if err != nil {
		return nil, err
	}
	return ikeRemoteAdd{r}, nil
}

// ikeRemoteAdd is `ike remote -n ...`.
type ikeRemoteAdd struct{ r ike.Remote }

func (c ikeRemoteAdd) run(env *Env, out io.Writer, rec *record) error {
	if env.IKE == nil {
		// Without a daemon (a library user running ike_rc for the data
		// plane alone) the line is reported, not silently dropped.
		_, err := fmt.Fprintf(out, "ike remote -n %s: not applied: %v\n", c.r.Name, errNoIKE)
		return err
	}
	for _, r := range env.IKE.Remotes() {
		if r.Name == c.r.Name {
			return fmt.Errorf("ike remote -n %s: a remote of that name exists (delete it with -x first)", c.r.Name)
		}
	}
	if err := env.IKE.AddRemote(c.r); err != nil {
		return err
	}
	rec.remotes = append(rec.remotes, c.r.Name)
	_, err := fmt.Fprintf(out, "remote %s added\n", c.r.Name)
	return err
}

type ikeRemoteView struct{ name string }

func (c ikeRemoteView) run(env *Env, out io.Writer, _ *record) error {
	if env.IKE == nil {
		return errNoIKE
	}
	found := false
	for _, r := range sortedRemotes(env.IKE) {
		if c.name != "" && r.Name != c.name {
			continue
		}
		found = true
		fmt.Fprintf(out, "ike remote %s\n", strings.Join(RemoteArgs(&r), " "))
	}
	if c.name != "" && !found {
		return fmt.Errorf("ike remote -v: no remote named %q", c.name)
	}
	return nil
}

func sortedRemotes(d *ike.Daemon) []ike.Remote {
	rs := d.Remotes()
	slices.SortFunc(rs, func(a, b ike.Remote) int { return strings.Compare(a.Name, b.Name) })
	return rs
}

type ikeRemoteDelete struct{ name string }

func (c ikeRemoteDelete) run(env *Env, out io.Writer, _ *record) error {
	if env.IKE == nil {
		return errNoIKE
	}
	if c.name == "ALLREMOTES" {
		_, err := fmt.Fprintf(out, "%s deleted\n", plural(env.IKE.FlushRemotes(), "remote"))
		return err
	}
	if err := env.IKE.DeleteRemote(c.name); err != nil {
		return err
	}
	_, err := fmt.Fprintf(out, "remote %s deleted\n", c.name)
	return err
}

// ikeNetstat is `ike netstat [-p 3] [-r [-n name]] [-j]`.
type ikeNetstat struct {
	onlySAs, onlyRemotes bool
	name                 string
	json                 bool
}

func (c ikeNetstat) run(env *Env, out io.Writer, _ *record) error {
	if env.IKE == nil {
		return errNoIKE
	}
	sas := env.IKE.Status()
	slices.SortFunc(sas, func(a, b ike.SAStatus) int { return strings.Compare(a.SPIi, b.SPIi) })
	if c.json {
		v := map[string]any{}
		if !c.onlyRemotes {
			v["ike_sas"] = sas
		}
		if !c.onlySAs {
			var rs []map[string]any
			for _, r := range sortedRemotes(env.IKE) {
				if c.name == "" || r.Name == c.name {
					rs = append(rs, map[string]any{"name": r.Name, "args": RemoteArgs(&r)})
				}
			}
			v["remotes"] = rs
		}
		if !c.onlyRemotes {
			s := env.IKE.Stats()
			v["counters"] = map[string]uint64{
				"received": s.Received.Load(), "sent": s.Sent.Load(), "retransmits": s.Retransmits.Load(),
				"dropped": s.Dropped.Load(), "auth_failures": s.AuthFailures.Load(), "established": s.Established.Load(),
				"failed": s.Failed.Load(), "child_sas": s.ChildSAs.Load(), "child_failures": s.ChildFailures.Load(),
				"deletes": s.Deletes.Load(), "half_open_refused": s.HalfOpenRefused.Load(), "cookies_sent": s.CookiesSent.Load(),
				"panics": s.Panics.Load(), "replies_limited": s.RepliesLimited.Load(),
			}
			ps := env.IKE.ProcessorStats()
			v["processor"] = map[string]uint64{
				"workers": uint64(env.IKE.Workers()), "queued": ps.Queued.Load(), "processed": ps.Processed.Load(),
				"queue_full": ps.QueueFull.Load(), "init_shed": ps.InitShed.Load(), "no_header": ps.NoHeader.Load(), "stopped": ps.Stopped.Load(), "closed": ps.Closed.Load(),
			}
		}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	if !c.onlyRemotes {
		fmt.Fprintln(out, "IKEv2 SAs:")
		t := newTable("spi-i", "spi-r", "role", "remote", "peer", "state", "nat", "algorithms", "age")
		for _, s := range sas {
			role := "responder"
			if s.Initiator {
				role = "initiator"
			}
			t.add(s.SPIi, s.SPIr, role, s.Remote, s.Peer.String(), s.State, s.NAT, s.Algorithms, s.Age.String())
		}
		t.write(out, "  ")
		for _, s := range sas {
			rekey := "rekey in " + s.RekeyIn.String()
			switch {
			case s.Rekeyed:
				rekey = "rekeyed (replaced)"
			case s.RekeyIn == 0:
				rekey = "no rekey planned"
			}
			fmt.Fprintf(out, "  lifecycle of %s: %s; dpd %s, peer heard %v ago; start action %s, dpd action %s\n",
				s.SPIi, rekey, s.DPD, s.LastHeard, s.StartAction, s.DPDAction)
			for _, ch := range s.Children {
				fmt.Fprintf(out, "  child of %s: policy %d %s %s spi in %s out %s %s age %v\n",
					s.SPIi, ch.PolicyID, ch.Protocol, ch.Mode, ch.SPIIn, ch.SPIOut, ch.Algorithm, ch.Age)
			}
		}
		st := env.IKE.Stats()
		fmt.Fprintf(out, "messages: %d received, %d sent, %d retransmitted, %d dropped; IKE SAs: %d established, %d failed, %d auth failures; Child SAs: %d, %d failed\n",
			st.Received.Load(), st.Sent.Load(), st.Retransmits.Load(), st.Dropped.Load(), st.Established.Load(), st.Failed.Load(),
			st.AuthFailures.Load(), st.ChildSAs.Load(), st.ChildFailures.Load())
		fmt.Fprintf(out, "errors: %d panics contained (IKE SA deleted), %d error replies to unauthenticated messages rate-limited\n",
			st.Panics.Load(), st.RepliesLimited.Load())
		ps := env.IKE.ProcessorStats()
		fmt.Fprintf(out, "processor: %d workers; %d messages queued, %d handled; dropped: %d IKE_SA_INIT shed (queue over half full), %d queue full, %d without an IKE header, %d at shutdown\n",
			env.IKE.Workers(), ps.Queued.Load(), ps.Processed.Load(), ps.InitShed.Load(), ps.QueueFull.Load(), ps.NoHeader.Load(), ps.Stopped.Load()+ps.Closed.Load())
	}
	if !c.onlySAs {
		fmt.Fprintln(out, "remotes:")
		for _, r := range sortedRemotes(env.IKE) {
			if c.name == "" || r.Name == c.name {
				fmt.Fprintf(out, "  %s\n", strings.Join(RemoteArgs(&r), " "))
			}
		}
	}
	return nil
}

// ikeFlush is `ike flush {-p 3} {-r [-n name]}`.
type ikeFlush struct {
	sas, remotes bool
	name         string
}

func (c ikeFlush) run(env *Env, out io.Writer, _ *record) error {
	if env.IKE == nil {
		return errNoIKE
	}
	if c.remotes && c.name != "" && c.name != "ALLREMOTES" {
		found := false
		for _, r := range env.IKE.Remotes() {
			found = found || r.Name == c.name
		}
		if !found {
			return fmt.Errorf("ike flush -r -n %s: no remote of that name", c.name)
		}
	}
	var done []string
	if c.sas {
		done = append(done, plural(env.IKE.Flush(), "IKE SA"))
	}
	if c.remotes {
		n := 0
		if c.name == "" || c.name == "ALLREMOTES" {
			n = env.IKE.FlushRemotes()
		} else if env.IKE.DeleteRemote(c.name) == nil {
			n = 1
		}
		done = append(done, plural(n, "remote"))
	}
	_, err := fmt.Fprintf(out, "ike flush: %s deleted\n", strings.Join(done, " and "))
	return err
}

type ikeDebug struct{ debug, trace bool }

func (c ikeDebug) run(env *Env, out io.Writer, _ *record) error {
	if env.IKE == nil {
		return errNoIKE
	}
	env.IKE.SetDebug(c.debug, c.trace)
	_, err := fmt.Fprintf(out, "ike debug: debugging %v, tracing %v\n", onOff(c.debug), onOff(c.trace))
	return err
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// ikeCommands prints the running configuration as commands (`ike
// commands [-f file]`): ike remotes, then the policies.
type ikeCommands struct{ file string }

func (c ikeCommands) run(env *Env, out io.Writer, _ *record) error {
	var b strings.Builder
	if env.IKE != nil {
		for _, r := range sortedRemotes(env.IKE) {
			fmt.Fprintf(&b, "ike remote %s\n", strings.Join(RemoteArgs(&r), " "))
		}
	}
	for _, p := range env.Engine.SPD().List() {
		if p.Name == "" || strings.HasPrefix(p.Name, "ike-bypass") {
			continue
		}
		fmt.Fprintf(&b, "%s\n", policyCommandLine(p))
	}
	if c.file == "" {
		_, err := io.WriteString(out, b.String())
		return err
	}
	if err := os.WriteFile(c.file, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("ike commands -f %s: %w", c.file, err)
	}
	_, err := fmt.Fprintf(out, "configuration written to %s\n", c.file)
	return err
}

// ikeInitiate is `ike initiate -n <policy>`: negotiate the policy's SAs now
// rather than on its first packet.
type ikeInitiate struct{ name string }

func (c ikeInitiate) run(env *Env, out io.Writer, _ *record) error {
	if env.IKE == nil {
		return errNoIKE
	}
	p := env.Engine.SPD().ByName(c.name)
	if p == nil {
		return fmt.Errorf("ike initiate: no policy named %q", c.name)
	}
	if p.Action != spd.Secure {
		return fmt.Errorf("ike initiate: policy %q is not a secure policy", c.name)
	}
	if err := env.IKE.Initiate(p); err != nil {
		return fmt.Errorf("ike initiate -n %s: %w", c.name, err)
	}
	_, err := fmt.Fprintf(out, "negotiating SAs for policy %s\n", c.name)
	return err
}
