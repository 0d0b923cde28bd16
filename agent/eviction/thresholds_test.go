package eviction

import (
	"strings"
	"testing"
	"time"
)

func TestParseThresholds(t *testing.T) {
	mi := int64(1 << 20)
	type want struct {
		sig        Signal
		hard       bool
		bytes      int64 // against a 1000Mi capacity
		grace      time.Duration
		minReclaim int64 // -1 = none
	}
	tests := []struct {
		name    string
		cfg     Config
		want    []want
		wantErr string
	}{
		{"default hard", Config{Hard: DefaultHard}, []want{{SignalMemoryAvailable, true, 100 * mi, 0, -1}}, ""},
		{"empty", Config{}, nil, ""},
		{"hard and soft with grace and reclaim", Config{
			Hard:            "memory.available<100Mi, allocatableMemory.available<10%",
			Soft:            "memory.available<300Mi",
			SoftGracePeriod: "memory.available=30s",
			MinimumReclaim:  "memory.available=50Mi",
		}, []want{
			{SignalAllocatableMemoryAvailable, true, 100 * mi, 0, -1},
			{SignalMemoryAvailable, true, 100 * mi, 0, 50 * mi},
			{SignalMemoryAvailable, false, 300 * mi, 30 * time.Second, 50 * mi},
		}, ""},
		{"percentage reclaim", Config{Hard: "memory.available<5%", MinimumReclaim: "memory.available=1.5%"},
			[]want{{SignalMemoryAvailable, true, 50 * mi, 0, 15 * mi}}, ""},
		{"soft without grace", Config{Soft: "memory.available<1Gi"}, nil, "grace period must be specified"},
		{"grace without soft", Config{Hard: DefaultHard, SoftGracePeriod: "memory.available=1m"}, nil, "has no soft eviction threshold"},
		{"bad grace", Config{Soft: "memory.available<1Gi", SoftGracePeriod: "memory.available=soon"}, nil, "non-negative duration"},
		{"reclaim without threshold", Config{Hard: "memory.available<1Gi", MinimumReclaim: "allocatableMemory.available=1Mi"}, nil, "has no eviction threshold"},
		{"unsupported signal", Config{Hard: "nodefs.available<10%"}, nil, "not supported"},
		{"unknown signal", Config{Hard: "memory.free<10%"}, nil, "unknown eviction signal"},
		{"wrong operator", Config{Hard: "memory.available>10%"}, nil, "only the < operator"},
		{"bad quantity", Config{Hard: "memory.available<lots"}, nil, "invalid quantity"},
		{"negative quantity", Config{Hard: "memory.available<-1Mi"}, nil, "must not be negative"},
		{"bad percentage", Config{Hard: "memory.available<10x%"}, nil, "invalid percentage"},
		{"zero percentage", Config{Hard: "memory.available<0%"}, nil, "must be in"},
		{"over 100 percent", Config{Hard: "memory.available<101%"}, nil, "must be in"},
		{"duplicate", Config{Hard: "memory.available<1Mi,memory.available<2Mi"}, nil, "given twice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseThresholds(tc.cfg)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "--eviction-") {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d thresholds, want %d: %+v", len(got), len(tc.want), got)
			}
			for i, w := range tc.want {
				g := got[i]
				mr := int64(-1)
				if g.MinReclaim != nil {
					mr = g.MinReclaim.Bytes(1000 * mi)
				}
				if g.Signal != w.sig || g.Hard != w.hard || g.Value.Bytes(1000*mi) != w.bytes || g.GracePeriod != w.grace || mr != w.minReclaim {
					t.Errorf("threshold %d = %s hard=%v %d grace=%v reclaim=%d; want %+v", i, g.Signal, g.Hard, g.Value.Bytes(1000*mi), g.GracePeriod, mr, w)
				}
			}
		})
	}
}
