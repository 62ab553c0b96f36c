package cli

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/sabre-ipsec/sabre/spd"
)

// The ike_rc startup file (§4.4): commands, checked as a whole before any
// is applied, and applied all or nothing. See manRC for the rules.

// Command is one command of an ike_rc file: the words of its (joined)
// line, normalized so that Exec takes them ("policy ..." becomes "ipsec
// policy ...", "remote ..." becomes "ike remote ...").
type Command struct {
	File string
	Line int // of the command's first line
	Args []string
}

// String formats c as file:line: command.
func (c Command) String() string {
	q := make([]string, len(c.Args))
	for i, a := range c.Args {
		q[i] = quoteWord(a)
	}
	return fmt.Sprintf("%s:%d: %s", c.File, c.Line, strings.Join(q, " "))
}

// lineError is an error at a line of an ike_rc file.
type lineError struct {
	file string
	line int
	err  error
}

func (e *lineError) Error() string { return fmt.Sprintf("%s:%d: %v", e.file, e.line, e.err) }
func (e *lineError) Unwrap() error { return e.err }

// logicalLine is a command's text, its continuation lines joined.
type logicalLine struct {
	line int
	text string
}

// ParseRC parses ike_rc text into commands without applying anything. It
// checks every command as far as that is possible without the engine
// (options, selectors, algorithm names, keys, duplicate policy names) and
// reports every error, each as name:line: followed by the offending word;
// the errors are joined (errors.Join). On error it returns no commands.
func ParseRC(r io.Reader, name string) ([]Command, error) {
	lines, errs := joinLines(r, name)
	var cmds []Command
	names := map[string]int{} // policy name -> line that adds it
	for _, l := range lines {
		words, err := SplitLine(l.text)
		if err != nil {
			errs = append(errs, &lineError{name, l.line, err})
			continue
		}
		if len(words) == 0 {
			continue
		}
		switch words[0] {
		case "policy":
			words = append([]string{"ipsec"}, words...)
		case "remote":
			words = append([]string{"ike"}, words...)
		}
		o, err := parseCommand(words, true)
		switch {
		case errors.Is(err, errHelp):
			err = fmt.Errorf("%s: --help is for the console, not an ike_rc", strings.Join(words[:min(2, len(words))], " "))
		case err != nil:
		case isDeleter(o):
			err = fmt.Errorf("%s: not allowed in an ike_rc: it could not be rolled back, and a reload replaces what the file installed", strings.Join(words[:min(2, len(words))], " "))
		}
		if pa, ok := o.(policyAdd); ok && err == nil {
			if first, dup := names[pa.p.Name]; dup {
				err = fmt.Errorf("%s: -n %q: a policy of that name is added at line %d", policyCmd, pa.p.Name, first)
			} else {
				names[pa.p.Name] = l.line
			}
		}
		if err != nil {
			errs = append(errs, &lineError{name, l.line, err})
			continue
		}
		cmds = append(cmds, Command{File: name, Line: l.line, Args: words})
	}
	if len(errs) > 0 {
		slices.SortStableFunc(errs, func(a, b error) int {
			return cmp.Compare(a.(*lineError).line, b.(*lineError).line)
		})
		return nil, errors.Join(errs...)
	}
	return cmds, nil
}

func isDeleter(o op) bool {
	switch o.(type) {
	case ikeRemoteAdd, ikeDebug:
		return false
	case ikeRemoteDelete, ikeFlush, ikeInitiate, ikeNetstat, ikeRemoteView, ikeCommands:
		return true // console only: not undoable, or nothing to configure
	}
	d, ok := o.(deleter)
	return ok && d.deletes()
}

// joinLines reads the physical lines of r, drops comments and joins
// continuations: a line ending in '\', and a line whose first word is an
// option (as the reference's examples wrap long commands).
func joinLines(r io.Reader, name string) ([]logicalLine, []error) {
	var (
		lines   []logicalLine
		errs    []error
		pending bool // the previous line ended in '\'
		pendAt  int
	)
	br := bufio.NewReader(r)
	for n := 1; ; n++ {
		raw, readErr := br.ReadString('\n')
		if readErr != nil && readErr != io.EOF {
			errs = append(errs, &lineError{name, n, readErr})
			break
		}
		if raw == "" && readErr == io.EOF {
			break
		}
		code := strings.TrimRight(stripComment(raw), " \t\r\n")
		cont := strings.HasSuffix(code, `\`)
		if cont {
			code = strings.TrimSuffix(code, `\`)
		}
		trimmed := strings.TrimSpace(code)
		switch {
		case pending:
			lines[len(lines)-1].text += " " + code
		case trimmed == "":
			if cont {
				// A lone '\' continues nothing; the next line stands alone.
				cont = false
			}
		case trimmed[0] == '-':
			if len(lines) == 0 {
				word := strings.Fields(trimmed)[0]
				errs = append(errs, &lineError{name, n, fmt.Errorf("%q: an option line continues the command before it, and there is none", word)})
				cont = false
			} else {
				lines[len(lines)-1].text += " " + code
			}
		default:
			lines = append(lines, logicalLine{n, code})
		}
		if cont && !pending {
			pendAt = n
		}
		pending = cont
		if readErr == io.EOF {
			break
		}
	}
	if pending {
		errs = append(errs, &lineError{name, pendAt, errors.New(`'\' continues the command past the end of the file`)})
	}
	return lines, errs
}

// stripComment returns line up to a '#' outside double quotes.
func stripComment(line string) string {
	inQuote := false
	for i := 0; i < len(line); i++ {
		switch line[i] {
		case '"':
			inQuote = !inQuote
		case '#':
			if !inQuote {
				return line[:i]
			}
		}
	}
	return line
}

// RunRC reads an ike_rc file and applies it: all of it, or, if any command
// is wrong or fails, nothing (see ParseRC and the ike_rc manual page).
// What it installs is remembered for ReloadRC.
func (env *Env) RunRC(path string, out io.Writer) error {
	cmds, err := readRC(path)
	if err != nil {
		return err
	}
	if env.Engine == nil {
		return fmt.Errorf("%s: no engine", path)
	}
	env.mu.Lock()
	defer env.mu.Unlock()
	env.pruneKeys()
	rec, err := env.applyRC(cmds, out)
	if err != nil {
		return err
	}
	st := env.state()
	st.rc.merge(rec)
	st.rcCmds = append(st.rcCmds, cmds...)
	_, err = fmt.Fprintf(out, "%s: %d commands applied\n", path, len(cmds))
	return err
}

// ReloadRC checks the ike_rc file at path and, if it has no error,
// replaces the policies and SAs that the previous RunRC and ReloadRC runs
// installed with the ones it installs. Policies and SAs added otherwise
// (at the console, by the daemon itself, by IKE) stay. If applying the new
// file fails, it is rolled back and the previous file's commands are
// applied again.
func (env *Env) ReloadRC(path string, out io.Writer) error {
	cmds, err := readRC(path)
	if err != nil {
		return err
	}
	if env.Engine == nil {
		return fmt.Errorf("%s: no engine", path)
	}
	env.mu.Lock()
	defer env.mu.Unlock()
	st := env.state()
	old, oldCmds := st.rc, st.rcCmds
	env.undo(old)
	st.rc, st.rcCmds = record{}, nil
	rec, err := env.applyRC(cmds, out)
	if err != nil {
		restored, rerr := env.applyRC(oldCmds, io.Discard)
		if rerr != nil {
			return fmt.Errorf("%w\nrestoring the previous configuration failed too: %v", err, rerr)
		}
		st.rc, st.rcCmds = restored, oldCmds
		return fmt.Errorf("%w\nthe previous configuration (%d commands) is back in place", err, len(oldCmds))
	}
	st.rc, st.rcCmds = rec, cmds
	_, err = fmt.Fprintf(out, "%s: reloaded: %d commands applied (replacing %d policies, %d SAs)\n",
		path, len(cmds), len(old.policies), len(old.sas))
	return err
}

// readRC reads and checks the file at path.
func readRC(path string) ([]Command, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmds, err := ParseRC(f, path)
	if err != nil {
		n := 1
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			n = len(j.Unwrap())
		}
		return nil, fmt.Errorf("%w\n%s: %d errors: nothing applied", err, path, n)
	}
	return cmds, nil
}

// applyRC applies checked commands in order. If one fails, it removes what
// the others added and returns the error; otherwise it returns what they
// added. env.mu is held.
func (env *Env) applyRC(cmds []Command, out io.Writer) (record, error) {
	var rec record
	fail := func(c Command, err error) (record, error) {
		np, ns := len(rec.policies), len(rec.sas)
		env.undo(rec)
		return record{}, fmt.Errorf("%w\n%s: nothing applied (rolled back %d policies, %d SAs)",
			&lineError{c.File, c.Line, err}, c.File, np, ns)
	}
	ops := make([]op, len(cmds))
	for i, c := range cmds {
		o, err := parseCommand(c.Args, true)
		if err != nil {
			return fail(c, err)
		}
		ops[i] = o
	}
	for i := 0; i < len(cmds); {
		// A run of policy additions goes in one AddBatch: one rebuild of
		// the classification trees instead of one per policy.
		j := i
		for j < len(cmds) {
			if _, ok := ops[j].(policyAdd); !ok {
				break
			}
			j++
		}
		if j-i > 1 {
			if k, err := env.addPolicies(ops[i:j], out, &rec); err != nil {
				return fail(cmds[i+k], err)
			}
			i = j
			continue
		}
		c := cmds[i]
		if _, ok := ops[i].(ikeRemoteAdd); ok && env.IKE == nil {
			fmt.Fprintf(out, "%s:%d: ", c.File, c.Line)
		}
		if err := ops[i].run(env, out, &rec); err != nil {
			return fail(c, err)
		}
		i++
	}
	return rec, nil
}

// addPolicies adds the policies of ops (all policyAdd) at once. On error
// it returns the index of the op at fault; what it added is in rec.
func (env *Env) addPolicies(ops []op, out io.Writer, rec *record) (int, error) {
	ps := make([]spd.Policy, len(ops))
	for i, o := range ops {
		p, err := o.(policyAdd).resolve(env)
		if err != nil {
			return i, err
		}
		ps[i] = p
	}
	db := env.Engine.SPD()
	ids, err := db.AddBatch(ps)
	if err != nil {
		// Find the culprit: add them one by one (the caller rolls back).
		for i, p := range ps {
			id, err := db.Add(p)
			if err != nil {
				return i, fmt.Errorf("%s -n %s: %w", policyCmd, p.Name, err)
			}
			rec.policies = append(rec.policies, db.Get(id))
		}
		return 0, err
	}
	for i, id := range ids {
		rec.policies = append(rec.policies, db.Get(id))
		if _, err := fmt.Fprintf(out, "policy %s added (spid %d)\n", ps[i].Name, id); err != nil {
			return i, err
		}
	}
	return 0, nil
}
