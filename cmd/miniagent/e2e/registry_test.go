package e2e

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// registryAddr is where the in-test registry listens; the daemon is
// started with --insecure-registry for it (MINIAGENT_E2E_REGISTRY_PORT,
// default 15050).
var registryAddr = "127.0.0.1:" + envOr("MINIAGENT_E2E_REGISTRY_PORT", "15050")

// testRegistry is a tiny OCI distribution server (the pull half of the
// spec): GET/HEAD /v2/, manifests by tag and by digest, blobs. It serves
// every repository name with the image of an OCI layout tar; each tag in
// tags names the layout's one manifest.
type testRegistry struct {
	blobs    map[string][]byte // digest → content
	manifest string            // digest of the manifest
	mt       string            // its media type
	tags     map[string]bool
	// chunk and pause throttle blob bodies so a pull's progress can be seen.
	chunk int
	pause time.Duration
	srv   *http.Server
}

// startRegistry serves the image in layoutTar on registryAddr until the
// test ends.
func startRegistry(t *testing.T, layoutTar string, tags ...string) *testRegistry {
	t.Helper()
	r := &testRegistry{blobs: map[string][]byte{}, tags: map[string]bool{}, chunk: 64 << 10, pause: 15 * time.Millisecond}
	for _, tag := range tags {
		r.tags[tag] = true
	}
	if err := r.load(layoutTar); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", registryAddr)
	if err != nil {
		t.Fatalf("registry: %v", err)
	}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); _ = r.srv.Serve(ln) }()
	t.Cleanup(func() { r.srv.Close(); <-done })
	return r
}

func (r *testRegistry) load(layoutTar string) error {
	f, err := os.Open(layoutTar)
	if err != nil {
		return err
	}
	defer f.Close()
	var index []byte
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", layoutTar, err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return err
		}
		switch name := strings.TrimPrefix(hdr.Name, "./"); {
		case name == "index.json":
			index = data
		case strings.HasPrefix(name, "blobs/sha256/") && hdr.Typeflag == tar.TypeReg:
			r.blobs["sha256:"+strings.TrimPrefix(name, "blobs/sha256/")] = data
		}
	}
	var idx struct {
		Manifests []struct {
			MediaType string `json:"mediaType"`
			Digest    string `json:"digest"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal(index, &idx); err != nil || len(idx.Manifests) != 1 {
		return fmt.Errorf("%s: want an index.json with one manifest (%v)", layoutTar, err)
	}
	r.manifest, r.mt = idx.Manifests[0].Digest, idx.Manifests[0].MediaType
	if _, ok := r.blobs[r.manifest]; !ok {
		return fmt.Errorf("%s: manifest %s missing", layoutTar, r.manifest)
	}
	return r.addLayer()
}

// addLayer puts one more layer (a 1.5 MB file of random bytes) on top of
// the image, so that a pull has a layer to fetch even where the busybox
// layers are already unpacked (containerd skips those).
func (r *testRegistry) addLayer() error {
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	data := make([]byte, 1500<<10)
	_, _ = rand.Read(data)
	if err := tw.WriteHeader(&tar.Header{Name: "e2e-data", Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	_, _ = tw.Write(data)
	if err := tw.Close(); err != nil {
		return err
	}
	put := func(b []byte) string {
		d := fmt.Sprintf("sha256:%x", sha256.Sum256(b))
		r.blobs[d] = b
		return d
	}
	layerDigest := put(layer.Bytes())
	var m map[string]any
	if err := json.Unmarshal(r.blobs[r.manifest], &m); err != nil {
		return err
	}
	cfgDesc, _ := m["config"].(map[string]any)
	cfgDigest, _ := cfgDesc["digest"].(string)
	var cfg map[string]any
	if err := json.Unmarshal(r.blobs[cfgDigest], &cfg); err != nil {
		return fmt.Errorf("image config %s: %w", cfgDigest, err)
	}
	rootfs, _ := cfg["rootfs"].(map[string]any)
	ids, _ := rootfs["diff_ids"].([]any)
	rootfs["diff_ids"] = append(ids, layerDigest) // an uncompressed layer is its own diff
	newCfg, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	cfgDesc["digest"], cfgDesc["size"] = put(newCfg), len(newCfg)
	layers, _ := m["layers"].([]any)
	m["layers"] = append(layers, map[string]any{
		"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layerDigest, "size": layer.Len(),
	})
	newManifest, err := json.Marshal(m)
	if err != nil {
		return err
	}
	r.manifest = put(newManifest)
	return nil
}

func (r *testRegistry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		regError(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "pull only")
		return
	}
	p := req.URL.Path
	if p == "/v2/" || p == "/v2" {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, "{}")
		return
	}
	if i := strings.LastIndex(p, "/manifests/"); strings.HasPrefix(p, "/v2/") && i > 0 {
		ref := p[i+len("/manifests/"):]
		if ref != r.manifest && !r.tags[ref] {
			regError(w, http.StatusNotFound, "MANIFEST_UNKNOWN", "manifest unknown: "+ref)
			return
		}
		r.serveBlob(w, req, r.manifest, r.mt, false)
		return
	}
	if i := strings.LastIndex(p, "/blobs/"); strings.HasPrefix(p, "/v2/") && i > 0 {
		dgst := p[i+len("/blobs/"):]
		if _, ok := r.blobs[dgst]; !ok {
			regError(w, http.StatusNotFound, "BLOB_UNKNOWN", "blob unknown: "+dgst)
			return
		}
		r.serveBlob(w, req, dgst, "application/octet-stream", true)
		return
	}
	regError(w, http.StatusNotFound, "NAME_UNKNOWN", "no route "+p)
}

func (r *testRegistry) serveBlob(w http.ResponseWriter, req *http.Request, dgst, mt string, throttle bool) {
	data := r.blobs[dgst]
	w.Header().Set("Content-Type", mt)
	w.Header().Set("Docker-Content-Digest", dgst)
	w.Header().Set("Content-Length", fmt.Sprint(len(data)))
	w.WriteHeader(http.StatusOK)
	if req.Method == http.MethodHead {
		return
	}
	for len(data) > 0 {
		n := len(data)
		if throttle && n > r.chunk {
			n = r.chunk
		}
		if _, err := w.Write(data[:n]); err != nil {
			return
		}
		data = data[n:]
		if throttle && len(data) > 0 {
			if f, ok := w.(http.Flusher); ok {
				f.Flush()
			}
			time.Sleep(r.pause)
		}
	}
}

func regError(w http.ResponseWriter, code int, errCode, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": errCode, "message": msg}}})
}
