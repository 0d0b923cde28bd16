package containerd

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/containerd/containerd/v2/core/leases"
)

// TestCreateLease: containers are made under one lease the runtime
// reuses (none per container), their layers leave it with them, a new
// runtime of the namespace takes up a young one instead of making its
// own, a lease deleted under the runtime is replaced without a failed
// create, and Close deletes it.
func TestCreateLease(t *testing.T) {
	p := newPod(t, false)
	ctx := context.Background()
	r, err := New(ctx, Options{Namespace: testNamespace, StateDir: filepath.Join(tmpRoot, "ns")})
	if err != nil {
		t.Fatal(err)
	}
	ls := r.client.LeasesService()
	nctx := r.ns(ctx)
	ours := func() []leases.Lease {
		t.Helper()
		list, err := ls.List(nctx, fmt.Sprintf("labels.%q", LabelCreateLease))
		if err != nil {
			t.Fatal(err)
		}
		return list
	}
	resources := func(id string) map[string]bool {
		t.Helper()
		res, err := ls.ListResources(nctx, leases.Lease{ID: id})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]bool{}
		for _, x := range res {
			out[x.ID] = true
		}
		return out
	}
	before := len(ours())
	a, b := p.spec("true"), p.spec("true")
	for _, s := range []string{a.ID, b.ID} {
		t.Cleanup(func() { _ = r.RemoveContainer(context.Background(), s) })
	}
	if err := r.CreateContainer(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := r.CreateContainer(ctx, b); err != nil {
		t.Fatal(err)
	}
	id := r.lease.id
	if id == "" {
		t.Fatal("no creation lease after two creates")
	}
	if n := len(ours()); n > before+1 {
		t.Fatalf("%d creation leases after two creates, %d before: want at most one more", n, before)
	}
	if res := resources(id); !res[a.ID] || !res[b.ID] {
		t.Fatalf("lease %s holds %v, want both writable layers", id, res)
	}
	if err := r.RemoveContainer(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if res := resources(id); res[a.ID] || !res[b.ID] {
		t.Fatalf("after removing %s the lease holds %v", a.ID, res)
	}

	// Another runtime of the namespace takes it up.
	r2, err := New(ctx, Options{Namespace: testNamespace, StateDir: filepath.Join(tmpRoot, "ns")})
	if err != nil {
		t.Fatal(err)
	}
	c := p.spec("true")
	t.Cleanup(func() { _ = r2.RemoveContainer(context.Background(), c.ID) })
	if err := r2.CreateContainer(ctx, c); err != nil {
		t.Fatal(err)
	}
	if r2.lease.id != id {
		t.Errorf("the second runtime made lease %s, want the young %s taken up", r2.lease.id, id)
	}

	// Deleted under it (collected, or containerd's state lost): replaced.
	if err := ls.Delete(nctx, leases.Lease{ID: id}); err != nil {
		t.Fatal(err)
	}
	d := p.spec("true")
	t.Cleanup(func() { _ = r2.RemoveContainer(context.Background(), d.ID) })
	if err := r2.CreateContainer(ctx, d); err != nil {
		t.Fatalf("create after the lease was deleted: %v", err)
	}
	if r2.lease.id == "" || r2.lease.id == id {
		t.Errorf("lease after the old one was deleted: %q", r2.lease.id)
	}
	replaced := r2.lease.id
	for _, s := range []string{b.ID, c.ID, d.ID} {
		if err := r2.RemoveContainer(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if err := r2.Close(); err != nil {
		t.Fatal(err)
	}
	for _, l := range ours() {
		if l.ID == replaced {
			t.Errorf("lease %s still there after Close", replaced)
		}
	}
	_ = r.Close()
}
