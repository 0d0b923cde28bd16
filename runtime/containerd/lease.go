package containerd

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/core/leases"
)

// containerd's client makes a lease for every container it creates, so
// that garbage collection cannot take the new writable layer before the
// container record holds it, and deletes it once the record exists: two
// metadata transactions (each a sync to disk) on every container start.
// The runtime instead creates containers under a lease of its own that it
// reuses for an hour (and that expires a day after it was made): the
// protection is the same, and the layer is still removed with its
// container (RemoveContainer removes it by name). A lease's references
// to layers removed since stay behind until it expires and the garbage
// collector drops it with them.

const (
	createLeaseReuse  = time.Hour
	createLeaseExpiry = 24 * time.Hour
	// LabelCreateLease marks the runtime's creation leases.
	LabelCreateLease = "io.miniagent.create-lease"
)

// createLease is the lease containers are created under.
type createLease struct {
	mu   sync.Mutex
	id   string
	made time.Time
}

// withCreateLease returns ctx carrying the creation lease, making a new
// one when there is none yet or the current one is an hour old.
func (r *Runtime) withCreateLease(ctx context.Context) (context.Context, error) {
	r.lease.mu.Lock()
	defer r.lease.mu.Unlock()
	if r.lease.id == "" {
		r.adoptLeaseLocked(ctx)
	}
	if r.lease.id == "" || time.Since(r.lease.made) > createLeaseReuse {
		l, err := r.client.LeasesService().Create(ctx, leases.WithRandomID(),
			leases.WithExpiration(createLeaseExpiry), leases.WithLabel(LabelCreateLease, "true"))
		if err != nil {
			return ctx, classify(fmt.Errorf("create lease: %w", err))
		}
		r.lease.id, r.lease.made = l.ID, time.Now()
	}
	return leases.WithLease(ctx, r.lease.id), nil
}

// dropCreateLease forgets the creation lease after a failure that may
// mean it is gone (containerd's state lost, the lease collected): the
// next create makes a new one.
func (r *Runtime) dropCreateLease() {
	r.lease.mu.Lock()
	r.lease.id = ""
	r.lease.mu.Unlock()
}

// withCurrentLease returns ctx carrying the creation lease if there is
// one: a layer removed under it leaves the lease too.
func (r *Runtime) withCurrentLease(ctx context.Context) context.Context {
	r.lease.mu.Lock()
	defer r.lease.mu.Unlock()
	if r.lease.id == "" {
		return ctx
	}
	return leases.WithLease(ctx, r.lease.id)
}

// adoptLeaseLocked takes up the youngest creation lease an earlier run
// of the agent left in the namespace (it died without closing the
// runtime), if it is young enough to be reused.
func (r *Runtime) adoptLeaseLocked(ctx context.Context) {
	list, err := r.client.LeasesService().List(ctx, fmt.Sprintf("labels.%q", LabelCreateLease))
	if err != nil {
		return
	}
	for _, l := range list {
		if time.Since(l.CreatedAt) < createLeaseReuse && l.CreatedAt.After(r.lease.made) {
			r.lease.id, r.lease.made = l.ID, l.CreatedAt
		}
	}
}

// closeLease deletes the creation lease: the containers hold their
// layers themselves.
func (r *Runtime) closeLease() {
	r.lease.mu.Lock()
	defer r.lease.mu.Unlock()
	if r.lease.id == "" {
		return
	}
	ctx, cancel := context.WithTimeout(r.ns(context.Background()), healthTimeout)
	defer cancel()
	_ = r.client.LeasesService().Delete(ctx, leases.Lease{ID: r.lease.id})
	r.lease.id = ""
}
