package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// profiler fetches the daemon's pprof profiles over its API socket
// (/debug/pprof) into dir: a CPU profile over a measurement window and,
// at its end, the heap (in-use and allocated since start) and the goroutine
// profile. Files are named after the phase: <phase>.cpu.pprof,
// <phase>.heap.pprof, <phase>.goroutine.txt.
type profiler struct {
	dir string
	hc  *http.Client
}

func newProfiler(socket, dir string) (*profiler, error) {
	if dir == "" {
		return nil, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return &profiler{dir: dir, hc: unixClient(socket)}, nil
}

// unixClient is an HTTP client for the daemon's API socket.
func unixClient(socket string) *http.Client {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", socket)
	}}
	return &http.Client{Transport: tr}
}

// cpu starts a CPU profile of secs seconds; wait for the result on the
// returned channel (nil error: written).
func (p *profiler) cpu(phase string, secs int) <-chan error {
	ch := make(chan error, 1)
	if p == nil {
		ch <- nil
		return ch
	}
	go func() {
		ch <- p.fetch(fmt.Sprintf("/debug/pprof/profile?seconds=%d", secs), phase+".cpu.pprof")
	}()
	return ch
}

// snapshot writes the heap and goroutine profiles.
func (p *profiler) snapshot(phase string) error {
	if p == nil {
		return nil
	}
	if err := p.fetch("/debug/pprof/heap", phase+".heap.pprof"); err != nil {
		return err
	}
	return p.fetch("/debug/pprof/goroutine?debug=1", phase+".goroutine.txt")
}

func (p *profiler) fetch(path, file string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://miniagent"+path, nil)
	if err != nil {
		return err
	}
	res, err := p.hc.Do(req)
	if err != nil {
		return fmt.Errorf("profile %s: %w", path, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		return fmt.Errorf("profile %s: %s: %s", path, res.Status, b)
	}
	f, err := os.Create(filepath.Join(p.dir, file))
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, res.Body); err != nil {
		f.Close()
		return fmt.Errorf("profile %s: %w", path, err)
	}
	return f.Close()
}
