package e2e

import (
	"reflect"
	"testing"
)

// TestTopLevelAlternatives needs no daemon: it checks how TestMain reads a
// -run pattern to decide whether only fault tests run.
func TestTopLevelAlternatives(t *testing.T) {
	for _, c := range []struct {
		re   string
		want []string
	}{
		{"TestFault", []string{"TestFault"}},
		{"TestFaultA|^TestFaultB", []string{"TestFaultA", "^TestFaultB"}},
		{"TestFaultKillDuring(Applies|Deletes)", []string{"TestFaultKillDuring(Applies|Deletes)"}},
		{"TestFault[|]x|TestOther", []string{"TestFault[|]x", "TestOther"}},
		{`TestFault\|x|TestOther`, []string{`TestFault\|x`, "TestOther"}},
		{"TestFault(A|(B|C))|TestD", []string{"TestFault(A|(B|C))", "TestD"}},
	} {
		if got := topLevelAlternatives(c.re); !reflect.DeepEqual(got, c.want) {
			t.Errorf("topLevelAlternatives(%q) = %q, want %q", c.re, got, c.want)
		}
	}
}
