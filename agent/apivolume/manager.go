package apivolume

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
	authenticationv1 "k8s.io/api/authentication/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"
)

// Defaults of Options.
const (
	// DefaultPeriod is how often configMaps, secrets and the downward API
	// are read again: the kubelet's default --sync-frequency.
	DefaultPeriod = time.Minute
	// DefaultTokenSeconds is the API's default expirationSeconds.
	DefaultTokenSeconds = 3600
	// maxTokenAge: the kubelet refreshes a token at least once a day,
	// whatever its lifetime (the API server may extend it to a year).
	maxTokenAge = 24 * time.Hour
	// retryDelay is how soon a failed refresh is tried again.
	retryDelay   = 10 * time.Second
	fetchTimeout = 10 * time.Second
)

// Options configure a Manager.
type Options struct {
	// Client reads configMaps and secrets and requests tokens with the
	// node's identity (the Node authorizer allows those of its pods).
	Client kubernetes.Interface
	Clock  clock.WithTicker // nil: the real clock
	Log    *slog.Logger
	// Period is how often the volumes are refreshed (0: DefaultPeriod);
	// tokens are refreshed on their own schedule.
	Period time.Duration
	Env    Env
}

// Manager sets up and refreshes the API volumes of the pods. Each pod's
// worker calls SetUp (before its containers start, and on later syncs)
// and TearDown (before it removes the pod's volumes).
type Manager struct {
	o    Options
	mu   sync.Mutex
	pods map[types.UID]*podVolumes
	// mountTmpfs mounts a memory-backed volume's tmpfs (tests replace it).
	mountTmpfs func(dir string) error
}

// NewManager returns a manager reading through o.Client.
func NewManager(o Options) *Manager {
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Period <= 0 {
		o.Period = DefaultPeriod
	}
	return &Manager{o: o, pods: map[types.UID]*podVolumes{}, mountTmpfs: mountTmpfs}
}

// podVolumes is one pod's volumes and their refresher.
type podVolumes struct {
	m      *Manager
	podDir string
	pod    atomic.Pointer[v1.Pod] // the newest spec SetUp was given
	cancel context.CancelFunc
	done   chan struct{}

	// Used by SetUp's first pass, then by the refresher goroutine only.
	ctx    context.Context
	tokens map[string]cachedToken
}

type cachedToken struct {
	token     string
	refreshAt time.Time
}

// SetUp writes the API volumes of pod below podDir (its
// <podDir>/volumes/<plugin>/<name>, see Dir) and starts their refresher.
// For a pod already set up it only hands the refresher the newer spec (for
// the downward API) and returns at once. An error names the volume in the
// kubelet's words (`MountVolume.SetUp failed for volume "x" : ...`); the
// caller retries.
func (m *Manager) SetUp(ctx context.Context, pod *v1.Pod, podDir string) error {
	m.mu.Lock()
	pv := m.pods[pod.UID]
	m.mu.Unlock()
	if pv != nil {
		pv.pod.Store(pod)
		return nil
	}
	pv = &podVolumes{m: m, podDir: podDir, ctx: ctx, tokens: map[string]cachedToken{}, done: make(chan struct{})}
	pv.pod.Store(pod)
	if _, err := pv.refresh(true); err != nil {
		return err
	}
	rctx, cancel := context.WithCancel(ctx)
	pv.cancel, pv.ctx = cancel, rctx
	m.mu.Lock()
	m.pods[pod.UID] = pv
	m.mu.Unlock()
	go pv.run()
	return nil
}

// TearDown stops the refresher of the pod and waits for it; the caller
// then removes the volumes.
func (m *Manager) TearDown(uid types.UID) {
	m.mu.Lock()
	pv := m.pods[uid]
	delete(m.pods, uid)
	m.mu.Unlock()
	if pv != nil {
		pv.cancel()
		<-pv.done
	}
}

// Pods is how many pods have a refresher (tests, leak checks).
func (m *Manager) Pods() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.pods)
}

func (pv *podVolumes) run() {
	defer close(pv.done)
	clk := pv.m.o.Clock
	timer := clk.NewTimer(pv.nextRefresh())
	defer timer.Stop()
	for {
		select {
		case <-pv.ctx.Done():
			return
		case <-timer.C():
		}
		next, err := pv.refresh(false)
		if err != nil {
			pod := pv.pod.Load()
			pv.m.o.Log.Warn("refresh volumes", "pod", pod.Namespace+"/"+pod.Name, "err", err)
		}
		d := next.Sub(clk.Now())
		if err != nil && d > retryDelay {
			d = retryDelay
		}
		timer.Reset(d)
	}
}

// nextRefresh is how long until the next refresh is due: the period, or
// the first token's refresh time if sooner.
func (pv *podVolumes) nextRefresh() time.Duration {
	now := pv.m.o.Clock.Now()
	next := now.Add(pv.m.o.Period)
	for _, t := range pv.tokens {
		if t.refreshAt.Before(next) {
			next = t.refreshAt
		}
	}
	return next.Sub(now)
}

// refresh writes every API volume of the pod (mounting the tmpfs of the
// memory-backed ones first when mount is set) and returns when to refresh
// next. A volume that fails keeps its last content; the first error is
// returned.
func (pv *podVolumes) refresh(mount bool) (time.Time, error) {
	pod := pv.pod.Load()
	o := pv.m.o
	var fsGroup *int64
	if sc := pod.Spec.SecurityContext; sc != nil {
		fsGroup = sc.FSGroup
	}
	var firstErr error
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		if !IsAPIVolume(v) {
			continue
		}
		err := pv.setUpVolume(pod, v, mount, fsGroup)
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("MountVolume.SetUp failed for volume %q : %w", v.Name, err)
		}
	}
	return o.Clock.Now().Add(pv.nextRefresh()), firstErr
}

func (pv *podVolumes) setUpVolume(pod *v1.Pod, v *v1.Volume, mount bool, fsGroup *int64) error {
	dir := Dir(pv.podDir, v)
	if mount {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if MemoryBacked(v) && !isMountPoint(dir) {
			if err := pv.m.mountTmpfs(dir); err != nil {
				return err
			}
		}
	}
	files, err := Payload(pod, v, pv, pv.m.o.Env)
	if err != nil {
		return err
	}
	_, err = WriteAtomic(dir, files, pv.m.o.Clock.Now(), fsGroup)
	return err
}

// mountTmpfs makes dir a tmpfs.
func mountTmpfs(dir string) error {
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755"); err != nil {
		return fmt.Errorf("mount tmpfs at %s: %w", dir, err)
	}
	return nil
}

// isMountPoint tells whether dir is mounted on (its device differs from its parent's).
func isMountPoint(dir string) bool {
	var st, pst unix.Stat_t
	if unix.Stat(dir, &st) != nil || unix.Stat(dir+"/..", &pst) != nil {
		return false
	}
	return st.Dev != pst.Dev
}

// ConfigMap implements Objects through the client.
func (pv *podVolumes) ConfigMap(namespace, name string) (*v1.ConfigMap, error) {
	ctx, cancel := context.WithTimeout(pv.ctx, fetchTimeout)
	defer cancel()
	cm, err := pv.m.o.Client.CoreV1().ConfigMaps(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return cm, err
}

// Secret implements Objects through the client.
func (pv *podVolumes) Secret(namespace, name string) (*v1.Secret, error) {
	ctx, cancel := context.WithTimeout(pv.ctx, fetchTimeout)
	defer cancel()
	s, err := pv.m.o.Client.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return s, err
}

// Token implements Objects: a cached token until its refresh time, else a
// new one from the TokenRequest API, bound to the pod.
func (pv *podVolumes) Token(pod *v1.Pod, src *v1.ServiceAccountTokenProjection) (string, error) {
	now := pv.m.o.Clock.Now()
	exp := int64(DefaultTokenSeconds)
	if src.ExpirationSeconds != nil {
		exp = *src.ExpirationSeconds
	}
	key := fmt.Sprintf("%s|%d", src.Audience, exp)
	if t, ok := pv.tokens[key]; ok && now.Before(t.refreshAt) {
		return t.token, nil
	}
	tr, err := RequestToken(pv.ctx, pv.m.o.Client, pod, src.Audience, exp)
	if err != nil {
		return "", fmt.Errorf("failed to fetch token: %w", err)
	}
	pv.tokens[key] = cachedToken{token: tr.Status.Token, refreshAt: RefreshAt(now, tr.Status.ExpirationTimestamp.Time, exp)}
	return tr.Status.Token, nil
}

// ServiceAccount is the pod's service account ("default" if unset).
func ServiceAccount(pod *v1.Pod) string {
	if pod.Spec.ServiceAccountName != "" {
		return pod.Spec.ServiceAccountName
	}
	return "default"
}

// RequestToken asks the API server for a token of the pod's service
// account, bound to the pod, for audience ("" : the API server's) and
// expirationSeconds.
func RequestToken(ctx context.Context, client kubernetes.Interface, pod *v1.Pod, audience string, expirationSeconds int64) (*authenticationv1.TokenRequest, error) {
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: &expirationSeconds,
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
	}}
	if audience != "" {
		req.Spec.Audiences = []string{audience}
	}
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	tr, err := client.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, ServiceAccount(pod), req, metav1.CreateOptions{})
	if err != nil {
		return nil, err
	}
	if tr.Status.Token == "" {
		return nil, fmt.Errorf("empty token for service account %s/%s", pod.Namespace, ServiceAccount(pod))
	}
	return tr, nil
}

// RefreshAt is when a token issued at issued and expiring at expires is
// renewed, as the kubelet's token manager does: once 80 % of its lifetime
// has passed, and at least every 24 h. A missing or past expiry counts as
// the requested lifetime.
func RefreshAt(issued, expires time.Time, requestedSeconds int64) time.Time {
	ttl := expires.Sub(issued)
	if expires.IsZero() || ttl <= 0 {
		ttl = time.Duration(requestedSeconds) * time.Second
	}
	wait := ttl * 8 / 10
	if wait > maxTokenAge {
		wait = maxTokenAge
	}
	return issued.Add(wait)
}
