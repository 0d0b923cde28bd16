package cluster

import (
	"slices"
	"testing"

	v1 "k8s.io/api/core/v1"
)

func status(conds ...string) *v1.NodeStatus {
	s := &v1.NodeStatus{}
	types := []v1.NodeConditionType{v1.NodeMemoryPressure, v1.NodeDiskPressure, v1.NodePIDPressure, v1.NodeReady}
	for i, c := range conds {
		if c != "" {
			s.Conditions = append(s.Conditions, v1.NodeCondition{Type: types[i], Status: v1.ConditionStatus(c)})
		}
	}
	return s
}

func TestNodeConditionEvents(t *testing.T) {
	for _, tc := range []struct {
		name      string
		old, next *v1.NodeStatus
		want      []string
	}{
		{"registration", status(), status("False", "False", "False", "True"),
			[]string{"NodeHasSufficientMemory", "NodeHasNoDiskPressure", "NodeHasSufficientPID", "NodeReady"}},
		{"no change", status("False", "False", "False", "True"), status("False", "False", "False", "True"), nil},
		{"memory pressure", status("False", "False", "False", "True"), status("True", "False", "False", "True"),
			[]string{"NodeHasInsufficientMemory"}},
		{"disk and pid pressure", status("False", "False", "False", "True"), status("False", "True", "True", "True"),
			[]string{"NodeHasDiskPressure", "NodeHasInsufficientPID"}},
		{"not ready", status("False", "False", "False", "True"), status("False", "False", "False", "False"),
			[]string{"NodeNotReady"}},
		// The controller set Unknown while the agent was stopped.
		{"back from Unknown", status("Unknown", "Unknown", "Unknown", "Unknown"), status("False", "False", "False", "True"),
			[]string{"NodeHasSufficientMemory", "NodeHasNoDiskPressure", "NodeHasSufficientPID", "NodeReady"}},
		{"condition missing in next", status("False", "", "", ""), status("", "", "", "True"), []string{"NodeReady"}},
	} {
		if got := nodeConditionEvents(tc.old, tc.next); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	if got := nodeEventMessage("node-a", "NodeReady"); got != "Node node-a status is now: NodeReady" {
		t.Errorf("message %q", got)
	}
}
