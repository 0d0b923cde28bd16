package apivolume

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	v1 "k8s.io/api/core/v1"

	"github.com/miniagent/miniagent/agent/envvar"
)

// Plugin directory names under <pod>/volumes, as the kubelet names them.
const (
	DirConfigMap   = "kubernetes.io~configmap"
	DirSecret      = "kubernetes.io~secret"
	DirDownwardAPI = "kubernetes.io~downward-api"
	DirProjected   = "kubernetes.io~projected"
)

// defaultMode is the API's default file mode of all four volume types.
const defaultMode int32 = 0o644

// IsAPIVolume tells whether v's content comes from the API server.
func IsAPIVolume(v *v1.Volume) bool {
	return v.ConfigMap != nil || v.Secret != nil || v.DownwardAPI != nil || v.Projected != nil
}

// HasAPIVolumes tells whether pod has a volume IsAPIVolume.
func HasAPIVolumes(pod *v1.Pod) bool {
	for i := range pod.Spec.Volumes {
		if IsAPIVolume(&pod.Spec.Volumes[i]) {
			return true
		}
	}
	return false
}

// Dir is where volume v of the pod whose directory is podDir lives ("" if
// v is no API volume).
func Dir(podDir string, v *v1.Volume) string {
	var plugin string
	switch {
	case v.ConfigMap != nil:
		plugin = DirConfigMap
	case v.Secret != nil:
		plugin = DirSecret
	case v.DownwardAPI != nil:
		plugin = DirDownwardAPI
	case v.Projected != nil:
		plugin = DirProjected
	default:
		return ""
	}
	return filepath.Join(podDir, "volumes", plugin, v.Name)
}

// MemoryBacked tells whether v is a tmpfs, as the kubelet makes secret and
// projected volumes.
func MemoryBacked(v *v1.Volume) bool { return v.Secret != nil || v.Projected != nil }

// File is one file of a volume's payload.
type File struct {
	Data []byte
	Mode os.FileMode
}

// Objects gives payload the API objects a volume names. A missing object
// is reported as (nil, nil); other errors end the payload.
type Objects interface {
	ConfigMap(namespace, name string) (*v1.ConfigMap, error)
	Secret(namespace, name string) (*v1.Secret, error)
	// Token returns a service account token for the pod.
	Token(pod *v1.Pod, src *v1.ServiceAccountTokenProjection) (string, error)
}

// Env is what downward API files need besides the pod.
type Env struct {
	HostIP, PodIP   string
	NodeAllocatable v1.ResourceList
}

// Payload computes the files of API volume v of pod, keyed by their path
// relative to the volume. Errors read as the kubelet's SetUp errors
// (`configmap "x" not found`).
func Payload(pod *v1.Pod, v *v1.Volume, objs Objects, env Env) (map[string]File, error) {
	out := map[string]File{}
	var err error
	switch {
	case v.ConfigMap != nil:
		s := v.ConfigMap
		err = configMapFiles(out, pod.Namespace, s.Name, s.Items, s.Optional, mode(s.DefaultMode), objs, "")
	case v.Secret != nil:
		s := v.Secret
		err = secretFiles(out, pod.Namespace, s.SecretName, s.Items, s.Optional, mode(s.DefaultMode), objs, "")
	case v.DownwardAPI != nil:
		err = downwardFiles(out, pod, v.DownwardAPI.Items, mode(v.DownwardAPI.DefaultMode), env)
	case v.Projected != nil:
		err = projectedFiles(out, pod, v.Projected, objs, env)
	default:
		return nil, fmt.Errorf("volume %q: not an API volume", v.Name)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

func mode(m *int32) int32 {
	if m == nil {
		return defaultMode
	}
	return *m
}

func fileMode(item *int32, def int32) os.FileMode {
	if item != nil {
		return os.FileMode(*item) & 0o777
	}
	return os.FileMode(def) & 0o777
}

func isTrue(b *bool) bool { return b != nil && *b }

// put adds a file, refusing paths that could leave the volume or collide
// with the writer's own names.
func put(out map[string]File, p string, data []byte, m os.FileMode) error {
	if err := checkPath(p); err != nil {
		return err
	}
	if _, dup := out[p]; dup {
		return fmt.Errorf("duplicate path %q", p)
	}
	out[p] = File{Data: data, Mode: m}
	return nil
}

func checkPath(p string) error {
	switch {
	case p == "" || path.IsAbs(p):
		return fmt.Errorf("invalid path %q: must be relative", p)
	case strings.HasPrefix(p, ".."):
		return fmt.Errorf("invalid path %q: must not start with '..'", p)
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." || part == "" {
			return fmt.Errorf("invalid path %q: must not contain '..' or empty elements", p)
		}
	}
	return nil
}

// keyFiles projects the keys of a configMap or secret: every key without
// items, else the items' keys (a missing key is an error unless optional).
func keyFiles(out map[string]File, data map[string][]byte, items []v1.KeyToPath, optional *bool, def int32, prefix, kind, name string) error {
	if len(items) == 0 {
		for k, d := range data {
			if err := put(out, path.Join(prefix, k), d, fileMode(nil, def)); err != nil {
				return err
			}
		}
		return nil
	}
	for _, it := range items {
		d, ok := data[it.Key]
		if !ok {
			if isTrue(optional) {
				continue
			}
			return fmt.Errorf("%s %q references non-existent config key: %s", kind, name, it.Key)
		}
		if err := put(out, path.Join(prefix, it.Path), d, fileMode(it.Mode, def)); err != nil {
			return err
		}
	}
	return nil
}

func configMapFiles(out map[string]File, ns, name string, items []v1.KeyToPath, optional *bool, def int32, objs Objects, prefix string) error {
	cm, err := objs.ConfigMap(ns, name)
	if err != nil {
		return err
	}
	if cm == nil {
		if isTrue(optional) {
			return nil
		}
		return fmt.Errorf("configmap %q not found", name)
	}
	data := make(map[string][]byte, len(cm.Data)+len(cm.BinaryData))
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return keyFiles(out, data, items, optional, def, prefix, "configmap", name)
}

func secretFiles(out map[string]File, ns, name string, items []v1.KeyToPath, optional *bool, def int32, objs Objects, prefix string) error {
	s, err := objs.Secret(ns, name)
	if err != nil {
		return err
	}
	if s == nil {
		if isTrue(optional) {
			return nil
		}
		return fmt.Errorf("secret %q not found", name)
	}
	return keyFiles(out, s.Data, items, optional, def, prefix, "secret", name)
}

func downwardFiles(out map[string]File, pod *v1.Pod, items []v1.DownwardAPIVolumeFile, def int32, env Env) error {
	for _, it := range items {
		var val string
		var err error
		switch {
		case it.FieldRef != nil:
			val, err = envvar.FieldValue(pod, it.FieldRef, env.HostIP, env.PodIP)
		case it.ResourceFieldRef != nil && it.ResourceFieldRef.ContainerName == "":
			err = fmt.Errorf("resourceFieldRef: containerName is required in volumes")
		case it.ResourceFieldRef != nil:
			val, err = envvar.ResourceValue(pod, nil, it.ResourceFieldRef, env.NodeAllocatable)
		default:
			err = fmt.Errorf("item %q: neither fieldRef nor resourceFieldRef", it.Path)
		}
		if err != nil {
			return fmt.Errorf("downward API %q: %w", it.Path, err)
		}
		if err := put(out, it.Path, []byte(val), fileMode(it.Mode, def)); err != nil {
			return err
		}
	}
	return nil
}

func projectedFiles(out map[string]File, pod *v1.Pod, p *v1.ProjectedVolumeSource, objs Objects, env Env) error {
	def := mode(p.DefaultMode)
	for i, src := range p.Sources {
		var err error
		switch {
		case src.ServiceAccountToken != nil:
			t := src.ServiceAccountToken
			var tok string
			if tok, err = objs.Token(pod, t); err == nil {
				err = put(out, t.Path, []byte(tok), fileMode(nil, def))
			}
		case src.ConfigMap != nil:
			s := src.ConfigMap
			if err = configMapFiles(out, pod.Namespace, s.Name, s.Items, s.Optional, def, objs, ""); err != nil {
				err = fmt.Errorf("couldn't get configMap %s/%s: %w", pod.Namespace, s.Name, err)
			}
		case src.Secret != nil:
			s := src.Secret
			if err = secretFiles(out, pod.Namespace, s.Name, s.Items, s.Optional, def, objs, ""); err != nil {
				err = fmt.Errorf("couldn't get secret %s/%s: %w", pod.Namespace, s.Name, err)
			}
		case src.DownwardAPI != nil:
			err = downwardFiles(out, pod, src.DownwardAPI.Items, def, env)
		default:
			err = fmt.Errorf("sources[%d]: not supported by miniagent", i)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
