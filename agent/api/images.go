package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Image is one image of the node, as `image ls` shows it.
type Image struct {
	Ref      string `json:"ref"`      // normalised name, e.g. docker.io/library/busybox:1.36
	ID       string `json:"id"`       // <repo>@sha256:<manifest digest>
	ConfigID string `json:"configID"` // sha256:<config digest>, crictl's IMAGE ID
	Size     int64  `json:"size"`     // bytes of content (compressed layers, config, manifest)
}

// BlobProgress is how far one blob of a pull got.
type BlobProgress struct {
	Digest string `json:"digest"`
	Kind   string `json:"kind"` // index, manifest, config, layer
	Done   int64  `json:"done"`
	Total  int64  `json:"total"`
	Status string `json:"status"` // waiting, downloading, done, exists
}

// PullUpdate is one line of a pull's response stream: progress while it
// runs, then either the image or the error.
type PullUpdate struct {
	Blobs []BlobProgress `json:"blobs,omitempty"`
	Image *Image         `json:"image,omitempty"`
	Error *metav1.Status `json:"error,omitempty"`
}

// ImageList is the body of GET /images.
type ImageList struct {
	Items []Image `json:"items"`
}

// Imager is what the /images endpoints serve; the agent implements it.
// Errors are apierrors values, as for Backend.
type Imager interface {
	// PullImage pulls ref (queued behind the node's other pulls, as
	// kubelet serialises them) and reports progress to progress.
	PullImage(ctx context.Context, ref string, progress func([]BlobProgress)) (Image, error)
	// ListImages returns the node's images, by name.
	ListImages(ctx context.Context) ([]Image, error)
	// RemoveImage removes the image, refusing (409 Conflict) while a pod or
	// container uses it.
	RemoveImage(ctx context.Context, ref string) error
}

func (s *Server) imageRoutes(im Imager) {
	s.mux.HandleFunc("GET /images", func(w http.ResponseWriter, r *http.Request) {
		items, err := im.ListImages(r.Context())
		if err != nil {
			WriteError(w, err)
			return
		}
		WriteJSON(w, http.StatusOK, ImageList{Items: items})
	})
	s.mux.HandleFunc("DELETE /images", func(w http.ResponseWriter, r *http.Request) {
		ref := r.URL.Query().Get("image")
		if ref == "" {
			WriteError(w, apierrors.NewBadRequest("query parameter image is required: the image reference"))
			return
		}
		if err := im.RemoveImage(r.Context(), ref); err != nil {
			WriteError(w, err)
			return
		}
		WriteJSON(w, http.StatusOK, metav1.Status{Status: metav1.StatusSuccess, Code: http.StatusOK})
	})
	s.mux.HandleFunc("POST /images/pull", func(w http.ResponseWriter, r *http.Request) {
		ref := r.URL.Query().Get("image")
		if ref == "" {
			WriteError(w, apierrors.NewBadRequest("query parameter image is required: the image reference"))
			return
		}
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.WriteHeader(http.StatusOK)
		enc := json.NewEncoder(w)
		flush := func() {
			if f, ok := w.(http.Flusher); ok {
				f.Flush()
			}
		}
		flush()
		// progress is called from the pull's one sampler goroutine, and
		// never after PullImage returned.
		img, err := im.PullImage(r.Context(), ref, func(b []BlobProgress) {
			_ = enc.Encode(PullUpdate{Blobs: b})
			flush()
		})
		if err != nil {
			st := StatusOf(err)
			_ = enc.Encode(PullUpdate{Error: &st})
		} else {
			_ = enc.Encode(PullUpdate{Image: &img})
		}
		flush()
	})
}

// PullImage asks the daemon to pull ref, calling progress with each update.
func (c *Client) PullImage(ctx context.Context, ref string, progress func([]BlobProgress)) (Image, error) {
	resp, err := c.do(ctx, http.MethodPost, "/images/pull", url.Values{"image": {ref}}, nil)
	if err != nil {
		return Image{}, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var u PullUpdate
		if err := json.Unmarshal(sc.Bytes(), &u); err != nil {
			return Image{}, fmt.Errorf("decode pull progress: %w", err)
		}
		switch {
		case u.Error != nil:
			return Image{}, &apierrors.StatusError{ErrStatus: *u.Error}
		case u.Image != nil:
			return *u.Image, nil
		case progress != nil:
			progress(u.Blobs)
		}
	}
	if err := sc.Err(); err != nil {
		return Image{}, fmt.Errorf("read pull progress: %w", err)
	}
	return Image{}, fmt.Errorf("pull image %q: the daemon ended the response without a result", ref)
}

// ListImages returns the node's images.
func (c *Client) ListImages(ctx context.Context) ([]Image, error) {
	var l ImageList
	if _, err := c.getJSON(ctx, http.MethodGet, "/images", nil, nil, &l); err != nil {
		return nil, err
	}
	return l.Items, nil
}

// RemoveImage removes the image named ref.
func (c *Client) RemoveImage(ctx context.Context, ref string) error {
	var st metav1.Status
	_, err := c.getJSON(ctx, http.MethodDelete, "/images", url.Values{"image": {ref}}, nil, &st)
	return err
}

var _ Imager = (*Client)(nil)
