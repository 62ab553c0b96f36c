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
	"unicode/utf8"

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

func (e *lineError) Error() string {
	return fmt.Sprintf("%s:%d: %s", e.file, e.line, capText(e.err.Error(), maxErrorText))
}

// capText cuts s to at most max bytes (at a rune boundary), saying how
// much it cut: an error quoting a megabyte-long word stays readable.
func capText(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s... (%d more bytes)", s[:cut], len(s)-cut)
}
func (e *lineError) Unwrap() error { return e.err }

// moreErrors stands for the errors of a file past maxRCErrors.
type moreErrors struct {
	file string
	n    int
}

func (e moreErrors) Error() string { return fmt.Sprintf("%s: %d more errors not shown", e.file, e.n) }

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
	names := map[string]int{}       // policy name -> line that adds it
	remoteNames := map[string]int{} // remote name -> line that adds it
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
		if ra, ok := o.(ikeRemoteAdd); ok && err == nil {
			if first, dup := remoteNames[ra.r.Name]; dup {
				err = fmt.Errorf("ike remote: -n %q: a remote of that name is added at line %d", ra.r.Name, first)
			} else {
				remoteNames[ra.r.Name] = l.line
			}
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
		if len(errs) > maxRCErrors {
			more := len(errs) - maxRCErrors
			errs = append(errs[:maxRCErrors:maxRCErrors], moreErrors{name, more})
		}
		return nil, errors.Join(errs...)
	}
	return cmds, nil
}

func isDeleter(o op) bool {
	switch o.(type) {
	case ikeRemoteAdd, ikeDebug:
		return false
	case ikeRemoteDelete, ikeFlush, ikeInitiate, ikeNetstat, ikeRemoteView, ikeCommands, ikeReload:
		return true // console only: not undoable, or nothing to configure
	}
	d, ok := o.(deleter)
	return ok && d.deletes()
}

// Limits of an ike_rc file. A file of 100,000 policies is about 15 MB.
const (
	maxRCFile    = 64 << 20 // bytes
	maxRCLine    = 64 << 10 // bytes in a physical line
	maxRCCommand = 1 << 20  // bytes in a command, its continuation lines joined
	maxRCErrors  = 100      // errors reported; the rest are counted
	maxErrorText = 512      // bytes of one error's message
)

// joinLines reads the physical lines of r, drops comments and joins
// continuations: a line ending in '\', and a line whose first word is an
// option (as the reference's examples wrap long commands). It works in
// time and memory linear in the size of the file.
func joinLines(r io.Reader, name string) ([]logicalLine, []error) {
	var (
		lines   []logicalLine
		errs    []error
		pending bool // the previous line ended in '\'
		pendAt  int
		cur     strings.Builder // the text of the last logical line
		curAt   int             // its line, 0 if none
		tooLong bool            // it passed maxRCCommand
	)
	flush := func() {
		if curAt != 0 && !tooLong {
			lines = append(lines, logicalLine{curAt, cur.String()})
		}
		cur.Reset()
		curAt, tooLong = 0, false
	}
	appendCur := func(n int, s string) {
		if tooLong {
			return
		}
		if cur.Len()+1+len(s) > maxRCCommand {
			errs = append(errs, &lineError{name, curAt, fmt.Errorf("the command is longer than %d bytes (its continuation lines joined, up to line %d)", maxRCCommand, n)})
			tooLong = true
			return
		}
		cur.WriteByte(' ')
		cur.WriteString(s)
	}
	lr := &io.LimitedReader{R: r, N: maxRCFile + 1}
	sc := bufio.NewScanner(lr)
	sc.Buffer(make([]byte, 0, 4096), maxRCLine)
	n := 0
	for sc.Scan() {
		n++
		code := strings.TrimRight(stripComment(sc.Text()), " \t\r")
		cont := strings.HasSuffix(code, `\`)
		if cont {
			code = strings.TrimSuffix(code, `\`)
		}
		trimmed := strings.TrimSpace(code)
		switch {
		case pending:
			appendCur(n, code)
		case trimmed == "":
			if cont {
				// A lone '\' continues nothing; the next line stands alone.
				cont = false
			}
		case trimmed[0] == '-':
			if curAt == 0 && len(lines) == 0 {
				word, _, _ := strings.Cut(trimmed, " ")
				errs = append(errs, &lineError{name, n, fmt.Errorf("%q: an option line continues the command before it, and there is none", word)})
				cont = false
			} else if curAt != 0 {
				appendCur(n, code)
			}
		default:
			flush()
			curAt = n
			cur.WriteString(code)
		}
		if cont && !pending {
			pendAt = n
		}
		pending = cont
	}
	flush()
	switch err := sc.Err(); {
	case errors.Is(err, bufio.ErrTooLong):
		errs = append(errs, &lineError{name, n + 1, fmt.Errorf("line longer than %d bytes", maxRCLine)})
		return lines, errs
	case err != nil:
		errs = append(errs, &lineError{name, n + 1, err})
		return lines, errs
	case lr.N <= 0:
		errs = append(errs, &lineError{name, n, fmt.Errorf("file larger than %d bytes", maxRCFile)})
		return lines, errs
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
// What it installs is remembered for ReloadRC and `ike reload`.
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
	units, err := splitUnits(cmds)
	if err != nil {
		return err
	}
	recs, err := env.applyRC(cmds, out)
	if err != nil {
		return err
	}
	st := env.state()
	st.rc = append(st.rc, attach(units, recs)...)
	st.rcPath = path
	_, err = fmt.Fprintf(out, "%s: %d commands applied\n", path, len(cmds))
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
			for _, e := range j.Unwrap() {
				if m, ok := e.(moreErrors); ok {
					n += m.n - 1
				}
			}
		}
		return nil, fmt.Errorf("%w\n%s: %d errors: nothing applied", err, path, n)
	}
	return cmds, nil
}

// applyRC applies checked commands in order. If one fails, it removes what
// the others added and returns the error; otherwise it returns what each
// command added (recs[i] is cmds[i]'s). env.mu is held.
func (env *Env) applyRC(cmds []Command, out io.Writer) ([]record, error) {
	recs := make([]record, len(cmds))
	fail := func(c Command, err error) ([]record, error) {
		np, ns := 0, 0
		for i := len(recs) - 1; i >= 0; i-- {
			np, ns = np+len(recs[i].policies), ns+len(recs[i].sas)
			env.undo(recs[i])
		}
		return nil, fmt.Errorf("%w\n%s: nothing applied (rolled back %d policies, %d SAs)",
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
			if k, err := env.addPolicies(ops[i:j], out, recs[i:j]); err != nil {
				return fail(cmds[i+k], err)
			}
			i = j
			continue
		}
		c := cmds[i]
		if _, ok := ops[i].(ikeRemoteAdd); ok && env.IKE == nil {
			fmt.Fprintf(out, "%s:%d: ", c.File, c.Line)
		}
		if err := ops[i].run(env, out, &recs[i]); err != nil {
			return fail(c, err)
		}
		i++
	}
	return recs, nil
}

// addPolicies adds the policies of ops (all policyAdd) at once, each
// recorded in its recs entry. On error it returns the index of the op at
// fault; what it added is in recs.
func (env *Env) addPolicies(ops []op, out io.Writer, recs []record) (int, error) {
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
			recs[i].policies = append(recs[i].policies, db.Get(id))
		}
		return 0, err
	}
	for i, id := range ids {
		recs[i].policies = append(recs[i].policies, db.Get(id))
		if _, err := fmt.Fprintf(out, "policy %s added (spid %d)\n", ps[i].Name, id); err != nil {
			return i, err
		}
	}
	return 0, nil
}
