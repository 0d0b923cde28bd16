package agent

import (
	"testing"
	"time"

	"github.com/miniagent/miniagent/cgroups"
)

func TestPickBase(t *testing.T) {
	t0 := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(d time.Duration, u uint64) cgroups.CPUSample { return cgroups.CPUSample{At: t0.Add(d), Usage: u} }
	cur := at(20*time.Second, 1000)
	for _, tc := range []struct {
		name   string
		last   [2]cgroups.CPUSample
		want   cgroups.CPUSample
		wantOK bool
	}{
		{"none", [2]cgroups.CPUSample{}, cgroups.CPUSample{}, false},
		{"one old enough", [2]cgroups.CPUSample{{}, at(10*time.Second, 500)}, at(10*time.Second, 500), true},
		{"newest old enough wins", [2]cgroups.CPUSample{at(0, 100), at(10*time.Second, 500)}, at(10*time.Second, 500), true},
		{"newest too recent: the older", [2]cgroups.CPUSample{at(10*time.Second, 500), at(19500*time.Millisecond, 900)}, at(10*time.Second, 500), true},
		{"both too recent", [2]cgroups.CPUSample{at(19600*time.Millisecond, 800), at(19900*time.Millisecond, 900)}, cgroups.CPUSample{}, false},
		{"counter reset: skipped", [2]cgroups.CPUSample{{}, at(10*time.Second, 5000)}, cgroups.CPUSample{}, false},
	} {
		got, ok := pickBase(tc.last, cur, time.Second)
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("%s: %+v %v, want %+v %v", tc.name, got, ok, tc.want, tc.wantOK)
		}
	}
}
