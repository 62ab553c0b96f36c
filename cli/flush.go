package cli

import (
	"fmt"
	"io"

	"github.com/sabre-ipsec/sabre/sad"
	"github.com/sabre-ipsec/sabre/spd"
	"github.com/sabre-ipsec/sabre/xe"
)

// `ipsec flush -a|-c|-p`.

const flushCmd = "ipsec flush"

type flushOp struct{ sas, policies bool }

func (flushOp) deletes() bool { return true }

func parseFlush(args []string) (op, error) {
	o, err := parseOpts(flushCmd, args, "acp", nil)
	if err != nil {
		return nil, err
	}
	f := flushOp{sas: o.has('a') || o.has('c'), policies: o.has('a') || o.has('p')}
	if !f.sas && !f.policies {
		return nil, errorf(xe.BadParam, "%s: give -a (SAs and policies), -c (SAs) or -p (policies)", flushCmd)
	}
	return f, nil
}

func (f flushOp) run(env *Env, out io.Writer, _ *record) error {
	sas, policies := 0, 0
	if f.sas {
		sas = env.Engine.SAD().Flush()
	}
	if f.policies {
		list, n := env.flushPolicies()
		policies, sas = len(list), sas+n
	}
	env.pruneKeys()
	_, err := fmt.Fprintf(out, "flushed %s, %s\n", count(policies, "policy", "policies"), count(sas, "SA", "SAs"))
	return err
}

// flushPolicies deletes every policy and their SAs, and returns the
// policies and the number of SAs it deleted.
func (env *Env) flushPolicies() ([]*spd.Policy, int) {
	list := env.Engine.SPD().List()
	env.Engine.SPD().Flush()
	n := 0
	for _, p := range list {
		n += env.Engine.SAD().DeletePolicy(p.ID)
		delete(env.state().created, p)
	}
	return list, n + env.deleteOrphans()
}

// deleteOrphans deletes the SAs whose policy no longer exists (a policy
// added and flushed between List and Flush) and returns how many.
func (env *Env) deleteOrphans() int {
	n := 0
	for _, sa := range env.Engine.SAD().All() {
		if env.Engine.SPD().Get(sa.PolicyID()) == nil && sa.State() != sad.Dead {
			if env.Engine.SAD().DeleteSA(sa) == nil {
				n++
			}
		}
	}
	return n
}
