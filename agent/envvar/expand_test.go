package envvar

import (
	"reflect"
	"testing"
)

func TestExpand(t *testing.T) {
	vars := map[string]string{"VAR_A": "A", "VAR_B": "B", "VAR_C": "C", "EMPTY": "", "REF": "$(VAR_A)", "SP ACE": "s"}
	lookup := func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"$(VAR_A)", "A"},
		{"___$(VAR_B)___", "___B___"},
		{"$(VAR_A)-$(VAR_B)-$(VAR_C)", "A-B-C"},
		{"$(VAR_A)$(VAR_B)", "AB"},
		{"$(EMPTY)x", "x"},
		{"$(UNKNOWN)", "$(UNKNOWN)"},
		{"a$(UNKNOWN)b$(VAR_A)", "a$(UNKNOWN)bA"},
		{"$(REF)", "$(VAR_A)"}, // not recursive
		{"$$(VAR_A)", "$(VAR_A)"},
		{"$$$(VAR_A)", "$A"},
		{"$$$$(VAR_A)", "$$(VAR_A)"},
		{"$$", "$"},
		{"$$$", "$$"},
		{"x$$y", "x$y"},
		{"$", "$"},
		{"a$", "a$"},
		{"$VAR_A", "$VAR_A"},
		{"${VAR_A}", "${VAR_A}"},
		{"$(VAR_A", "$(VAR_A"},
		{"$(", "$("},
		{"$()", "$()"},
		{"foo$(VAR_A", "foo$(VAR_A"},
		{"$(VAR_A $(VAR_B)", "$(VAR_A $(VAR_B)"}, // the name runs to the first ')'
		{"$(SP ACE)", "s"},
		{"$(VAR_A))", "A)"},
		{"(VAR_A)", "(VAR_A)"},
		{"$(VAR_A)$", "A$"},
		{"ü$(VAR_A)ü", "üAü"},
	}
	for _, tc := range tests {
		if got := Expand(tc.in, lookup); got != tc.want {
			t.Errorf("Expand(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestExpandCommand(t *testing.T) {
	env := []string{"A=1", "B=two words", "A=3", "EQ=x=y", "NOEQ"}
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"nil stays nil", nil, nil},
		{"empty stays empty", []string{}, []string{}},
		{"later duplicate wins", []string{"echo", "$(A)"}, []string{"echo", "3"}},
		{"value with spaces is one arg", []string{"$(B)"}, []string{"two words"}},
		{"value containing =", []string{"$(EQ)"}, []string{"x=y"}},
		{"entry without = is empty", []string{"[$(NOEQ)]"}, []string{"[]"}},
		{"unknown and escaped", []string{"$(C)", "$$(A)"}, []string{"$(C)", "$(A)"}},
		{"shell syntax untouched", []string{"sh", "-c", "echo $A ${B}"}, []string{"sh", "-c", "echo $A ${B}"}},
	}
	for _, tc := range tests {
		got := ExpandCommand(tc.in, env)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: ExpandCommand(%q) = %q, want %q", tc.name, tc.in, got, tc.want)
		}
	}
}
