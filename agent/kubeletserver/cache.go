package kubeletserver

import (
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// ttlCache keeps answers for a while, at most max of them. When it is
// full, expired entries are dropped first, then arbitrary ones: a cache
// miss only costs one more review.
type ttlCache[V any] struct {
	clock clock.PassiveClock
	max   int

	mu sync.Mutex
	m  map[string]ttlEntry[V]
}

type ttlEntry[V any] struct {
	v       V
	expires time.Time
}

func newTTLCache[V any](c clock.PassiveClock, max int) *ttlCache[V] {
	return &ttlCache[V]{clock: c, max: max, m: map[string]ttlEntry[V]{}}
}

// get returns the value stored under k unless it expired.
func (c *ttlCache[V]) get(k string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok || !c.clock.Now().Before(e.expires) {
		delete(c.m, k)
		var zero V
		return zero, false
	}
	return e.v, true
}

// put stores v under k for ttl (ttl <= 0: not at all).
func (c *ttlCache[V]) put(k string, v V, ttl time.Duration) {
	if ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock.Now()
	if _, ok := c.m[k]; !ok && len(c.m) >= c.max {
		for key, e := range c.m {
			if !now.Before(e.expires) {
				delete(c.m, key)
			}
		}
		for key := range c.m {
			if len(c.m) < c.max {
				break
			}
			delete(c.m, key)
		}
	}
	c.m[k] = ttlEntry[V]{v: v, expires: now.Add(ttl)}
}

// len is the number of entries, expired ones included (tests).
func (c *ttlCache[V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
