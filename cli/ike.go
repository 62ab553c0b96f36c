package cli

import (
	"errors"
	"fmt"
	"io"
	"slices"
)

// The `ike` commands arrive with IKE. Until then every ike command fails,
// except that an ike_rc's `ike remote` lines are reported and skipped, so
// that a file written for the reference (policies and remotes together)
// still installs its policies and says what it left out.

// errNoIKE is the error of every ike command in this build.
var errNoIKE = errors.New("ike: not available in this build")

// ikeRemoteSkipped is an ike_rc's `ike remote` line.
type ikeRemoteSkipped struct{ name string }

func (s ikeRemoteSkipped) run(_ *Env, out io.Writer, _ *record) error {
	name := ""
	if s.name != "" {
		name = fmt.Sprintf(" -n %s", s.name)
	}
	_, err := fmt.Fprintf(out, "ike remote%s: not applied: %v\n", name, errNoIKE)
	return err
}

// parseIKE parses an ike command line: "ike ..." or the reference's bare
// "remote ..." (= "ike remote ...").
func parseIKE(args []string, inRC bool) (op, error) {
	if args[0] == "remote" {
		args = append([]string{"ike"}, args...)
	}
	if slices.Contains(args[1:], "--help") {
		return nil, errHelp
	}
	if inRC && len(args) >= 2 && args[1] == "remote" {
		var s ikeRemoteSkipped
		if i := slices.Index(args, "-n"); i >= 0 && i+1 < len(args) {
			s.name = args[i+1]
		}
		return s, nil
	}
	if len(args) >= 2 {
		return nil, fmt.Errorf("%w (\"ike %s\")", errNoIKE, args[1])
	}
	return nil, errNoIKE
}
