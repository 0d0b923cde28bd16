package sources

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	podmanifest "github.com/miniagent/miniagent/agent/manifest"
	"github.com/miniagent/miniagent/agent/spec"
)

// Update is the complete desired set of pods of one source (kubelet's SET
// semantics): a pod missing from an Update is to be stopped.
type Update struct {
	Source string
	Pods   []*v1.Pod
}

// Names of sources and of the annotations the kubelet puts on static pods.
const (
	SourceFile = "file"

	ConfigSourceAnnotation = "kubernetes.io/config.source"
	ConfigHashAnnotation   = "kubernetes.io/config.hash"
	ConfigSeenAnnotation   = "kubernetes.io/config.seen"
)

// Timing of FileSource; variables so tests can shorten them.
var (
	debounceDelay  = 100 * time.Millisecond
	resyncInterval = 20 * time.Second
)

// FileSource watches a directory of pod manifests (or a single manifest
// file) and sends the static pods it defines.
type FileSource struct {
	path     string
	nodeName string
	log      *slog.Logger
	clock    clock.WithTicker

	mu       sync.Mutex              // guards the fields below, for Scan
	seen     map[types.UID]time.Time // first time each pod UID was seen
	problems map[string]string       // file -> last problem logged
}

// NewFileSource returns a source for the manifests in dir. Pods are named
// <name>-<nodeName> like the kubelet's static pods.
func NewFileSource(dir, nodeName string, log *slog.Logger) *FileSource {
	if log == nil {
		log = slog.Default()
	}
	return &FileSource{
		path:     dir,
		nodeName: strings.ToLower(nodeName),
		log:      log.With("source", SourceFile, "path", dir),
		clock:    clock.RealClock{},
		seen:     map[types.UID]time.Time{},
		problems: map[string]string{},
	}
}

// Run sends the current set of pods at once, then again after every change
// of the directory (debounced) and whenever a periodic full resync finds a
// difference. It returns nil when ctx ends, or an error if the directory
// cannot be watched at all.
func (s *FileSource) Run(ctx context.Context, out chan<- Update) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch %s: %w", s.path, err)
	}
	defer w.Close()
	watching := s.watch(w)

	// last is the fingerprint of the last update sent; it starts as one no
	// pod set has, so the first update always goes out, even when empty.
	last := "\x00"
	send := func() bool {
		pods := s.Scan()
		key := fingerprint(pods)
		if key == last {
			return true
		}
		select {
		case out <- Update{Source: SourceFile, Pods: pods}:
			last = key
			return true
		case <-ctx.Done():
			return false
		}
	}
	if !send() {
		return nil
	}

	resync := s.clock.NewTicker(resyncInterval)
	defer resync.Stop()
	var debounce <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return errors.New("file watcher closed")
			}
			if s.relevant(ev.Name) && debounce == nil {
				debounce = s.clock.After(debounceDelay)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return errors.New("file watcher closed")
			}
			s.log.Warn("watching pod manifests", "err", err)
		case <-debounce:
			debounce = nil
			if !send() {
				return nil
			}
		case <-resync.C():
			if !watching {
				watching = s.watch(w)
			}
			if !send() {
				return nil
			}
		}
	}
}

// watch adds the directory (or a single file's directory) to w.
func (s *FileSource) watch(w *fsnotify.Watcher) bool {
	dir := s.path
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		dir = filepath.Dir(dir)
	}
	if err := w.Add(dir); err != nil {
		s.log.Warn("cannot watch pod manifest path, retrying at the next resync", "err", err)
		return false
	}
	return true
}

// relevant reports whether a change of name may change the pod set.
func (s *FileSource) relevant(name string) bool {
	if name == s.path || filepath.Clean(name) == filepath.Clean(s.path) {
		return true
	}
	return isManifest(filepath.Base(name))
}

func isManifest(base string) bool {
	if strings.HasPrefix(base, ".") {
		return false
	}
	switch strings.ToLower(filepath.Ext(base)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// Scan reads every manifest now and returns the pods they define, sorted by
// file name then position. Files that fail to decode or validate are logged
// and left out; for a duplicate pod name the first file wins.
func (s *FileSource) Scan() []*v1.Pod {
	s.mu.Lock()
	defer s.mu.Unlock()
	files, err := s.manifestFiles()
	if err != nil {
		s.report(s.path, err.Error())
		return nil
	}
	s.report(s.path, "")
	var pods []*v1.Pod
	owner := map[string]string{} // namespace/name -> file
	seen := map[types.UID]time.Time{}
	for _, file := range files {
		filePods, err := s.readFile(file)
		if err != nil {
			s.report(file, err.Error())
			continue
		}
		var dups []string
		for _, pod := range filePods {
			key := pod.Namespace + "/" + pod.Name
			if first, ok := owner[key]; ok {
				dups = append(dups, fmt.Sprintf("pod %q is already defined in %s", key, first))
				continue
			}
			owner[key] = file
			s.stamp(pod, seen)
			pods = append(pods, pod)
		}
		s.report(file, strings.Join(dups, "; "))
	}
	s.seen = seen
	for file := range s.problems {
		if !slices.Contains(files, file) && file != s.path {
			delete(s.problems, file)
		}
	}
	return pods
}

func (s *FileSource) manifestFiles() ([]string, error) {
	fi, err := os.Stat(s.path)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return []string{s.path}, nil
	}
	entries, err := os.ReadDir(s.path)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		if !isManifest(e.Name()) {
			continue
		}
		full := filepath.Join(s.path, e.Name())
		if fi, err := os.Stat(full); err != nil || !fi.Mode().IsRegular() {
			continue
		}
		files = append(files, full)
	}
	sort.Strings(files)
	return files, nil
}

// readFile decodes, converts to static pods, defaults and validates all pods
// of one file; any problem rejects the whole file.
func (s *FileSource) readFile(file string) ([]*v1.Pod, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pods, err := podmanifest.Decode(data, file)
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for i, pod := range pods {
		s.makeStatic(pod, file)
		spec.SetDefaults(pod)
		if errs := spec.Validate(pod); len(errs) > 0 {
			return nil, fmt.Errorf("invalid pod %q in %s (pod %d): %v", pod.Name, file, i+1, errs.ToAggregate())
		}
		key := pod.Namespace + "/" + pod.Name
		if names[key] {
			return nil, fmt.Errorf("pod %q is defined twice in %s", key, file)
		}
		names[key] = true
	}
	return pods, nil
}

// makeStatic gives a pod the kubelet's static pod identity: a UID hashed
// from node, file and pod content, the node name suffix and the node.
func (s *FileSource) makeStatic(pod *v1.Pod, file string) {
	if pod.UID == "" {
		pod.UID = podUID(s.nodeName, file, pod)
	}
	pod.Name = pod.Name + "-" + s.nodeName
	if pod.Namespace == "" {
		pod.Namespace = "default"
	}
	pod.Spec.NodeName = s.nodeName
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[ConfigSourceAnnotation] = SourceFile
	pod.Annotations[ConfigHashAnnotation] = string(pod.UID)
	// Static pods tolerate every NoExecute taint, so node problems never evict them.
	tolerateAll := v1.Toleration{Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoExecute}
	if !slices.ContainsFunc(pod.Spec.Tolerations, func(t v1.Toleration) bool { return t == tolerateAll }) {
		pod.Spec.Tolerations = append(pod.Spec.Tolerations, tolerateAll)
	}
	pod.Status.Phase = v1.PodPending
}

// stamp sets config.seen to when this UID was first seen.
func (s *FileSource) stamp(pod *v1.Pod, seen map[types.UID]time.Time) {
	t, ok := s.seen[pod.UID]
	if !ok {
		t = s.clock.Now()
	}
	seen[pod.UID] = t
	pod.Annotations[ConfigSeenAnnotation] = t.UTC().Format(time.RFC3339Nano)
}

// podUID hashes the pod as written (before any defaulting or renaming).
func podUID(node, file string, pod *v1.Pod) types.UID {
	h := sha256.New()
	fmt.Fprintf(h, "host:%s\x00file:%s\x00", node, file)
	content, _ := json.Marshal(pod)
	h.Write(content)
	return types.UID(hex.EncodeToString(h.Sum(nil)[:16]))
}

// report logs a file's problem once, until it changes or goes away.
func (s *FileSource) report(file, problem string) {
	if s.problems[file] == problem {
		return
	}
	if problem == "" {
		s.log.Info("pod manifest accepted again", "file", file)
		delete(s.problems, file)
		return
	}
	s.problems[file] = problem
	s.log.Error("ignoring pod manifest", "file", file, "err", problem)
}

func fingerprint(pods []*v1.Pod) string {
	var b strings.Builder
	for _, p := range pods {
		b.WriteString(p.Namespace + "/" + p.Name + "=" + string(p.UID) + ";")
	}
	return b.String()
}
