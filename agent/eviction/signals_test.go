package eviction

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
)

func q(s string) *resource.Quantity { v := resource.MustParse(s); return &v }

func TestThresholdsMet(t *testing.T) {
	mi := int64(1 << 20)
	hard := Threshold{Signal: SignalMemoryAvailable, Value: Value{Quantity: q("100Mi")}, Hard: true, MinReclaim: &Value{Quantity: q("50Mi")}}
	pct := Threshold{Signal: SignalAllocatableMemoryAvailable, Value: Value{Percentage: 0.1}, Hard: true}
	obs := func(avail, allocAvail int64) Observation {
		return Observation{Signals: map[Signal]SignalObservation{
			SignalMemoryAvailable:            {Capacity: 1000 * mi, Available: avail},
			SignalAllocatableMemoryAvailable: {Capacity: 500 * mi, Available: allocAvail},
		}}
	}
	tests := []struct {
		name    string
		obs     Observation
		reclaim bool
		want    []Signal
	}{
		{"plenty", obs(500*mi, 400*mi), false, nil},
		{"below hard", obs(99*mi, 400*mi), false, []Signal{SignalMemoryAvailable}},
		{"exactly at threshold is not met", obs(100*mi, 50*mi), false, nil},
		{"percentage of allocatable", obs(500*mi, 49*mi), false, []Signal{SignalAllocatableMemoryAvailable}},
		{"within minimum reclaim", obs(120*mi, 400*mi), true, []Signal{SignalMemoryAvailable}},
		{"past minimum reclaim", obs(150*mi, 400*mi), true, nil},
		{"no observation", Observation{}, false, nil},
	}
	for _, tc := range tests {
		got := ThresholdsMet([]Threshold{hard, pct}, tc.obs, tc.reclaim)
		var sigs []Signal
		for _, g := range got {
			sigs = append(sigs, g.Signal)
		}
		if strings.Join(toStrings(sigs), ",") != strings.Join(toStrings(tc.want), ",") {
			t.Errorf("%s: met %v, want %v", tc.name, sigs, tc.want)
		}
	}
}

func toStrings(s []Signal) []string {
	out := make([]string, len(s))
	for i := range s {
		out[i] = string(s[i])
	}
	return out
}

func TestParseMeminfoAndAvailable(t *testing.T) {
	in := "MemTotal:        1000 kB\nMemFree:          200 kB\nMemAvailable:     700 kB\nActive(file):     100 kB\nInactive(file):   300 kB\n"
	m, err := ParseMeminfo(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if m != (Meminfo{MemTotal: 1024000, MemFree: 204800, InactiveFile: 307200}) {
		t.Fatalf("meminfo = %+v", m)
	}
	// usage 800 kB, working set 500 kB, available 500 kB.
	if got := NodeMemoryAvailable(m); got != (SignalObservation{Capacity: 1024000, Available: 512000}) {
		t.Errorf("NodeMemoryAvailable = %+v", got)
	}
	if _, err := ParseMeminfo(strings.NewReader("MemTotal: 1 kB\n")); err == nil {
		t.Error("incomplete meminfo accepted")
	}
}

func TestParsePSI(t *testing.T) {
	in := "some avg10=1.50 avg60=0.25 avg300=0.00 total=12345\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=10\n"
	p, err := ParsePSI(strings.NewReader(in))
	if err != nil || *p != (PSI{Avg10: 1.5, Avg60: 0.25, TotalMicros: 12345}) {
		t.Fatalf("ParsePSI = %+v, %v", p, err)
	}
	if _, err := ParsePSI(strings.NewReader("full avg10=0\n")); err == nil {
		t.Error("no some line accepted")
	}
	if _, err := ParsePSI(strings.NewReader("some avg10=x\n")); err == nil {
		t.Error("bad number accepted")
	}
}
