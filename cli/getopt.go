package cli

import (
	"errors"
	"fmt"
	"strings"
)

// errHelp is returned by parseOpts when the command line asks for the
// command's manual page.
var errHelp = errors.New("help requested")

// optSpec lists the options a command takes, getopt style: each letter, and
// a ':' after the letters that take a value ("a:b:cd:" — -a, -b and -d take
// values, -c is a switch).
type optSpec string

// takes reports whether letter is an option of spec and whether it takes a
// value.
func (s optSpec) takes(letter byte) (known, value bool) {
	i := strings.IndexByte(string(s), letter)
	if i < 0 || letter == ':' {
		return false, false
	}
	return true, i+1 < len(s) && s[i+1] == ':'
}

// opts are the options found on one command line.
type opts struct {
	cmd  string          // "ipsec policy", for messages
	vals map[byte]string // option letter -> value ("" for switches)
}

// has reports whether option letter was given.
func (o *opts) has(letter byte) bool { _, ok := o.vals[letter]; return ok }

// get returns the value of option letter and whether it was given.
func (o *opts) get(letter byte) (string, bool) { v, ok := o.vals[letter]; return v, ok }

// parseOpts reads args (the words after the command name) against spec.
// Every option is its own word ("-a", then its value as the next word), as
// in the reference's CLI. Long options are listed in long, mapped to their
// letter ("json" -> 'j'). "--help", and "-h" when the command has no -h of
// its own, return errHelp.
func parseOpts(cmd string, args []string, spec optSpec, long map[string]byte) (*opts, error) {
	o := &opts{cmd: cmd, vals: map[byte]string{}}
	for i := 0; i < len(args); i++ {
		a := args[i]
		var letter byte
		switch {
		case a == "--help" || (a == "-h" && !strings.Contains(string(spec), "h")):
			return nil, errHelp
		case strings.HasPrefix(a, "--"):
			l, ok := long[a[2:]]
			if !ok {
				return nil, fmt.Errorf("%s: unknown option %q", cmd, a)
			}
			letter = l
		case len(a) == 2 && a[0] == '-':
			letter = a[1]
		case looksLikeOption(a):
			return nil, fmt.Errorf("%s: unknown option %q (options are one letter each, as in \"-a HMAC-SHA-1\")", cmd, a)
		default:
			return nil, fmt.Errorf("%s: unexpected argument %q", cmd, a)
		}
		known, value := spec.takes(letter)
		if !known {
			return nil, fmt.Errorf("%s: unknown option %q", cmd, a)
		}
		if o.has(letter) {
			return nil, fmt.Errorf("%s: option %q given twice", cmd, a)
		}
		if !value {
			o.vals[letter] = ""
			continue
		}
		if i+1 >= len(args) {
			return nil, fmt.Errorf("%s: option %q needs a value", cmd, a)
		}
		if v := args[i+1]; looksLikeOption(v) {
			return nil, fmt.Errorf("%s: option %q needs a value, not the option %q", cmd, a, v)
		}
		i++
		o.vals[letter] = args[i]
	}
	return o, nil
}

// looksLikeOption reports whether w is written like an option: a '-'
// followed by a letter. (No value of any command starts that way.)
func looksLikeOption(w string) bool {
	if len(w) < 2 || w[0] != '-' {
		return false
	}
	c := w[1]
	return c == '-' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
}
