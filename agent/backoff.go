package agent

import "time"

// Crash-loop and image-pull back-off, as kubelet's: the first retry happens at
// once, then after 10 s, doubling up to 5 min; an entry not touched for twice
// the maximum (10 min) starts over.
const (
	backoffInitial = 10 * time.Second
	backoffMax     = 300 * time.Second
)

// backoff is the back-off state of one container (or of one image pull).
// The zero value means "no back-off yet".
type backoff struct {
	Delay      time.Duration `json:"delay,omitempty"`
	LastUpdate time.Time     `json:"lastUpdate,omitempty"`
}

// expired tells whether the entry is stale at now and must start over.
func (b backoff) expired(now time.Time) bool {
	return b.Delay == 0 || now.Sub(b.LastUpdate) > 2*backoffMax
}

// inBackoffSince reports whether a retry must still wait at now for an
// event (a container exit, a failed pull) that happened at eventTime, and
// until when.
func (b backoff) inBackoffSince(eventTime, now time.Time) (bool, time.Time) {
	if b.expired(now) {
		return false, time.Time{}
	}
	until := eventTime.Add(b.Delay)
	return now.Before(until), until
}

// next records a retry at now and returns the new state.
func (b backoff) next(now time.Time) backoff {
	if b.expired(now) {
		return backoff{Delay: backoffInitial, LastUpdate: now}
	}
	d := 2 * b.Delay
	if d > backoffMax {
		d = backoffMax
	}
	return backoff{Delay: d, LastUpdate: now}
}
