package main

import (
	"fmt"
	"strconv"
	"strings"
)

// benchCase is one timed command and its untimed clean-up.
type benchCase struct {
	name    string
	steps   [][]string // programs run in order; each must exit 0
	cleanup [][]string // run after each timed run; may be empty
}

// plan is what to run, in the order given, and which case the others are
// compared with.
type plan struct {
	cases    []benchCase
	baseline int // index into cases
}

// parsePlan reads the --case and --cleanup flags (NAME=COMMAND each) and
// the --baseline name (empty: the first case).
func parsePlan(cases, cleanups []string, baseline string) (plan, error) {
	var p plan
	index := map[string]int{}
	for _, c := range cases {
		name, cmd, err := splitNamed("--case", c)
		if err != nil {
			return p, err
		}
		if _, dup := index[name]; dup {
			return p, fmt.Errorf("--case %q: the name is used twice", name)
		}
		steps, err := parseCommand(cmd)
		if err != nil {
			return p, fmt.Errorf("--case %q: %w", name, err)
		}
		index[name] = len(p.cases)
		p.cases = append(p.cases, benchCase{name: name, steps: steps})
	}
	if len(p.cases) == 0 {
		return p, fmt.Errorf("--case: at least one is needed")
	}
	for _, c := range cleanups {
		name, cmd, err := splitNamed("--cleanup", c)
		if err != nil {
			return p, err
		}
		i, ok := index[name]
		if !ok {
			return p, fmt.Errorf("--cleanup %q: no --case of that name", name)
		}
		if p.cases[i].cleanup != nil {
			return p, fmt.Errorf("--cleanup %q: given twice", name)
		}
		if p.cases[i].cleanup, err = parseCommand(cmd); err != nil {
			return p, fmt.Errorf("--cleanup %q: %w", name, err)
		}
	}
	if baseline != "" {
		i, ok := index[baseline]
		if !ok {
			return p, fmt.Errorf("--baseline %q: no --case of that name", baseline)
		}
		p.baseline = i
	}
	return p, nil
}

// splitNamed splits NAME=COMMAND.
func splitNamed(flagName, v string) (string, string, error) {
	name, cmd, ok := strings.Cut(v, "=")
	name = strings.TrimSpace(name)
	if !ok || name == "" || strings.ContainsAny(name, " \t") {
		return "", "", fmt.Errorf("%s %q: want NAME=COMMAND with a one-word NAME", flagName, v)
	}
	return name, cmd, nil
}

// parseCommand splits a command into programs at `&&` words and each
// program into words at blanks.
func parseCommand(cmd string) ([][]string, error) {
	var steps [][]string
	var cur []string
	for _, w := range strings.Fields(cmd) {
		if w != "&&" {
			cur = append(cur, w)
			continue
		}
		if len(cur) == 0 {
			return nil, fmt.Errorf("%q: empty program before &&", cmd)
		}
		steps = append(steps, cur)
		cur = nil
	}
	if len(cur) == 0 {
		return nil, fmt.Errorf("%q: empty program at the end", cmd)
	}
	return append(steps, cur), nil
}

// expand replaces {i} in every word with n.
func expand(steps [][]string, n int) [][]string {
	s := strconv.Itoa(n)
	out := make([][]string, len(steps))
	for i, argv := range steps {
		out[i] = make([]string, len(argv))
		for j, w := range argv {
			out[i][j] = strings.ReplaceAll(w, "{i}", s)
		}
	}
	return out
}

// roundOrder is the order of ncases cases in round r: each round starts one
// case later than the one before, so no case always runs first.
func roundOrder(ncases, r int) []int {
	out := make([]int, ncases)
	for k := range out {
		out[k] = (r + k) % ncases
	}
	return out
}
