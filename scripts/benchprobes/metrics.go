package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// probeCounts is prober_probe_total summed by probe_type (all results).
type probeCounts map[string]float64

// scrapeProbeCounts reads prober_probe_total from the daemon's /metrics on
// its API socket. It counts every probe run with a result, whatever the
// daemon's log level, so the number of runs in a window is known also
// without the debug "probe" lines.
func scrapeProbeCounts(hc *http.Client) (probeCounts, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://miniagent/metrics", nil)
	if err != nil {
		return nil, err
	}
	res, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape /metrics: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape /metrics: %s", res.Status)
	}
	return parseProbeCounts(res.Body)
}

func parseProbeCounts(r io.Reader) (probeCounts, error) {
	out := probeCounts{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, "prober_probe_total{")
		if !ok {
			continue
		}
		labels, value, ok := strings.Cut(rest, "} ")
		if !ok {
			return nil, fmt.Errorf("malformed sample %q", line)
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			return nil, fmt.Errorf("malformed sample %q: %w", line, err)
		}
		kind := ""
		for _, l := range strings.Split(labels, ",") {
			if k, val, ok := strings.Cut(l, "="); ok && k == "probe_type" {
				kind = strings.Trim(val, `"`)
			}
		}
		out[kind] += v
	}
	return out, sc.Err()
}

// sub is c − before, by probe type.
func (c probeCounts) sub(before probeCounts) probeCounts {
	out := probeCounts{}
	for k, v := range c {
		out[k] = v - before[k]
	}
	return out
}
