package eviction

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
)

// Signal is an eviction signal.
type Signal string

// The memory signals miniagent observes.
const (
	SignalMemoryAvailable            Signal = "memory.available"
	SignalAllocatableMemoryAvailable Signal = "allocatableMemory.available"
)

// knownSignals are kubelet's signals: the memory ones are supported, the
// others are recognised so their error says "not supported" instead of
// "unknown".
var knownSignals = map[Signal]bool{
	SignalMemoryAvailable: true, SignalAllocatableMemoryAvailable: true,
	"nodefs.available": false, "nodefs.inodesFree": false, "imagefs.available": false,
	"imagefs.inodesFree": false, "containerfs.available": false, "containerfs.inodesFree": false,
	"pid.available": false,
}

// Value is a threshold quantity: an absolute quantity or a percentage of
// the signal's capacity.
type Value struct {
	Quantity   *resource.Quantity
	Percentage float64 // in (0, 1]
}

// Bytes resolves the value against capacity.
func (v Value) Bytes(capacity int64) int64 {
	if v.Quantity != nil {
		return v.Quantity.Value()
	}
	return int64(math.Round(v.Percentage * float64(capacity)))
}

// String shows the value as in the flag (quantity or percentage).
func (v Value) String() string {
	if v.Quantity != nil {
		return v.Quantity.String()
	}
	return fmt.Sprintf("%g%%", v.Percentage*100)
}

// Threshold is one eviction threshold: the signal is met when its available
// value is below Value. GracePeriod is 0 for hard thresholds.
type Threshold struct {
	Signal      Signal
	Value       Value
	GracePeriod time.Duration
	MinReclaim  *Value
	Hard        bool
}

// Config is what the eviction flags say.
type Config struct {
	Hard            string // --eviction-hard, e.g. "memory.available<100Mi"
	Soft            string // --eviction-soft
	SoftGracePeriod string // --eviction-soft-grace-period, e.g. "memory.available=30s"
	MinimumReclaim  string // --eviction-minimum-reclaim, e.g. "memory.available=0Mi"
}

// DefaultHard is kubelet's default --eviction-hard for memory.
const DefaultHard = "memory.available<100Mi"

// ParseThresholds parses the eviction flags the way kubelet does: each
// threshold is signal<quantity or signal<percent%; every soft threshold
// needs a grace period and every grace period a soft threshold; minimum
// reclaim applies to the thresholds of its signal. Only the memory signals
// are supported.
func ParseThresholds(cfg Config) ([]Threshold, error) {
	hard, err := parseLessThan("eviction-hard", cfg.Hard)
	if err != nil {
		return nil, err
	}
	soft, err := parseLessThan("eviction-soft", cfg.Soft)
	if err != nil {
		return nil, err
	}
	grace, err := parseMap("eviction-soft-grace-period", cfg.SoftGracePeriod)
	if err != nil {
		return nil, err
	}
	reclaim, err := parseMap("eviction-minimum-reclaim", cfg.MinimumReclaim)
	if err != nil {
		return nil, err
	}
	var out []Threshold
	for _, sig := range sortedKeys(hard) {
		out = append(out, Threshold{Signal: sig, Value: hard[sig], Hard: true})
	}
	for _, sig := range sortedKeys(soft) {
		g, ok := grace[sig]
		if !ok {
			return nil, fmt.Errorf("--eviction-soft: grace period must be specified for the soft eviction threshold %s (--eviction-soft-grace-period)", sig)
		}
		d, err := time.ParseDuration(g)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("--eviction-soft-grace-period: %s=%q: want a non-negative duration such as 30s", sig, g)
		}
		out = append(out, Threshold{Signal: sig, Value: soft[sig], GracePeriod: d})
	}
	for sig := range grace {
		if _, ok := soft[sig]; !ok {
			return nil, fmt.Errorf("--eviction-soft-grace-period: %s has no soft eviction threshold (--eviction-soft)", sig)
		}
	}
	for _, sig := range sortedKeys(reclaim) {
		v, err := parseValue("eviction-minimum-reclaim", sig, reclaim[sig])
		if err != nil {
			return nil, err
		}
		used := false
		for i := range out {
			if out[i].Signal == sig {
				out[i].MinReclaim = &v
				used = true
			}
		}
		if !used {
			return nil, fmt.Errorf("--eviction-minimum-reclaim: %s has no eviction threshold", sig)
		}
	}
	return out, nil
}

func sortedKeys[V any](m map[Signal]V) []Signal {
	keys := make([]Signal, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}

func checkSignal(flag string, sig Signal) error {
	supported, known := knownSignals[sig]
	switch {
	case !known:
		return fmt.Errorf("--%s: unknown eviction signal %q", flag, sig)
	case !supported:
		return fmt.Errorf("--%s: eviction signal %q is not supported by miniagent (only memory.available and allocatableMemory.available)", flag, sig)
	}
	return nil
}

// parseLessThan parses "sig<value,sig<value".
func parseLessThan(flag, s string) (map[Signal]Value, error) {
	out := map[Signal]Value{}
	for _, item := range splitList(s) {
		k, v, ok := strings.Cut(item, "<")
		if !ok {
			return nil, fmt.Errorf("--%s: %q: want signal<quantity (only the < operator is supported)", flag, item)
		}
		sig := Signal(strings.TrimSpace(k))
		if err := checkSignal(flag, sig); err != nil {
			return nil, err
		}
		if _, dup := out[sig]; dup {
			return nil, fmt.Errorf("--%s: %s given twice", flag, sig)
		}
		val, err := parseValue(flag, sig, strings.TrimSpace(v))
		if err != nil {
			return nil, err
		}
		out[sig] = val
	}
	return out, nil
}

// parseMap parses "sig=value,sig=value".
func parseMap(flag, s string) (map[Signal]string, error) {
	out := map[Signal]string{}
	for _, item := range splitList(s) {
		k, v, ok := strings.Cut(item, "=")
		if !ok {
			return nil, fmt.Errorf("--%s: %q: want signal=value", flag, item)
		}
		sig := Signal(strings.TrimSpace(k))
		if err := checkSignal(flag, sig); err != nil {
			return nil, err
		}
		if _, dup := out[sig]; dup {
			return nil, fmt.Errorf("--%s: %s given twice", flag, sig)
		}
		out[sig] = strings.TrimSpace(v)
	}
	return out, nil
}

func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// parseValue parses a quantity or a percentage in (0%, 100%].
func parseValue(flag string, sig Signal, s string) (Value, error) {
	if p, ok := strings.CutSuffix(s, "%"); ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil {
			return Value{}, fmt.Errorf("--%s: %s: invalid percentage %q", flag, sig, s)
		}
		if f <= 0 || f > 100 {
			return Value{}, fmt.Errorf("--%s: %s: percentage %q must be in (0%%, 100%%]", flag, sig, s)
		}
		return Value{Percentage: f / 100}, nil
	}
	q, err := resource.ParseQuantity(s)
	if err != nil {
		return Value{}, fmt.Errorf("--%s: %s: invalid quantity %q: %v", flag, sig, s, err)
	}
	if q.Sign() < 0 {
		return Value{}, fmt.Errorf("--%s: %s: quantity %q must not be negative", flag, sig, s)
	}
	return Value{Quantity: &q}, nil
}
