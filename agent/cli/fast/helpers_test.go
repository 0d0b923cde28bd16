package fast

import (
	"strings"
	"testing"
)

// checkParse runs parse on line split at spaces (” is an empty
// argument, replace rewrites each argument first) and compares with want
// (nil: not ours).
func checkParse[Q comparable](t *testing.T, name string, parse func([]string, string) (Q, bool), line string, replace func(string) string, want *Q) {
	t.Helper()
	args := strings.Fields(line)
	for i, a := range args {
		if replace != nil {
			a = replace(a)
		}
		if a == "''" {
			a = ""
		}
		args[i] = a
	}
	got, ok := parse(args, "S")
	switch {
	case want == nil && ok:
		t.Errorf("%s(%q) = %+v, want not ours", name, line, got)
	case want != nil && !ok:
		t.Errorf("%s(%q) not ours, want %+v", name, line, *want)
	case want != nil && got != *want:
		t.Errorf("%s(%q) = %+v, want %+v", name, line, got, *want)
	}
}
