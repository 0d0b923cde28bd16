package main

import "testing"

func TestParseCPU(t *testing.T) {
	got, err := parseCPU("cpu  100 5 50 1000 20 3 2 1 7 0\ncpu0 50 2 25 500 10 1 1 0 3 0\nintr 1\n")
	if err != nil {
		t.Fatal(err)
	}
	// busy: user 100 + nice 5 + system 50 + irq 3 + softirq 2 + steal 1; idle: 1000 + iowait 20.
	if want := (cpuTimes{busy: 161, idle: 1020}); got != want {
		t.Fatalf("parseCPU = %+v, want %+v", got, want)
	}
	for _, bad := range []string{"", "cpu0 1 2 3 4 5\n", "cpu 1 x 3 4 5\n"} {
		if _, err := parseCPU(bad); err == nil {
			t.Errorf("parseCPU(%q): no error", bad)
		}
	}
}

func TestQuiet(t *testing.T) {
	a := cpuTimes{busy: 1000, idle: 1000}
	for _, tc := range []struct {
		b    cpuTimes
		want bool
	}{
		{cpuTimes{busy: 1001, idle: 1019}, true},  // 5 % busy
		{cpuTimes{busy: 1003, idle: 1017}, false}, // 15 %
		{cpuTimes{busy: 1020, idle: 1000}, false}, // all busy
		{a, false}, // no time passed
	} {
		if got := quiet(a, tc.b, 0.10); got != tc.want {
			t.Errorf("quiet(%+v, %+v, 0.10) = %v, want %v", a, tc.b, got, tc.want)
		}
	}
}
