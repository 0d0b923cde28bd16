package main

import (
	"strings"
	"testing"
)

func TestParseProbeCounts(t *testing.T) {
	in := `# HELP prober_probe_total Cumulative number of a liveness, readiness or startup probe for a container by result.
# TYPE prober_probe_total counter
prober_probe_total{container="main",namespace="default",pod="a",pod_uid="1",probe_type="Readiness",result="successful"} 10
prober_probe_total{container="main",namespace="default",pod="b",pod_uid="2",probe_type="Readiness",result="failed"} 2
prober_probe_total{container="main",namespace="default",pod="a",pod_uid="1",probe_type="Liveness",result="successful"} 3
prober_probe_duration_seconds_count{container="main",namespace="default",pod="a",probe_type="Liveness"} 3
`
	c, err := parseProbeCounts(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if c["Readiness"] != 12 || c["Liveness"] != 3 || len(c) != 2 {
		t.Errorf("counts = %v, want Readiness 12, Liveness 3", c)
	}
	d := c.sub(probeCounts{"Readiness": 5})
	if d["Readiness"] != 7 || d["Liveness"] != 3 {
		t.Errorf("sub = %v", d)
	}
	if _, err := parseProbeCounts(strings.NewReader("prober_probe_total{probe_type=\"Liveness\"} x\n")); err == nil {
		t.Error("malformed value: no error")
	}
}
