package containerd

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/containerd/containerd/v2/pkg/cio"

	"github.com/miniagent/miniagent/runtime/crilog"
)

// Container log modes (Options.LogMode).
const (
	// LogModeAgent: the shim appends the raw streams to a spool (two
	// regular files per container) and the agent's Tailer writes the CRI
	// log; no process per container.
	LogModeAgent = "agent"
	// LogModeProcess: containerd's binary log driver starts the log shim
	// (Options.LogShim) per container.
	LogModeProcess = "process"
)

// startLogs starts the tailer on the container's spool; the spool
// directory holds everything a restarted agent needs to go on.
func (r *Runtime) startLogs() error {
	if r.opts.LogSpoolDir == "" {
		return nil
	}
	if err := os.MkdirAll(r.opts.LogSpoolDir, 0o700); err != nil {
		return fmt.Errorf("log spool dir: %w", err)
	}
	onErr := func(dir string, err error) {
		if r.opts.OnLogError != nil {
			r.opts.OnLogError(filepath.Base(dir), err)
		}
	}
	t, err := crilog.NewTailer(nil, onErr)
	if err != nil {
		return err
	}
	r.tailer = t
	// Spools of containers started by an earlier agent: their output since
	// then is in the raw files, and the tailer carries on from the
	// committed offsets. The spools of containers that are gone are
	// finished when the agent removes them (ListContainers lists them).
	ents, err := os.ReadDir(r.opts.LogSpoolDir)
	if err != nil {
		return fmt.Errorf("log spool dir: %w", err)
	}
	for _, e := range ents {
		dir := filepath.Join(r.opts.LogSpoolDir, e.Name())
		if e.IsDir() && crilog.IsSpool(dir) {
			if err := t.Follow(dir); err != nil {
				onErr(dir, err)
			}
		}
	}
	return nil
}

func (r *Runtime) spoolDir(id string) string { return filepath.Join(r.opts.LogSpoolDir, id) }

// taskIO is the IO of a new task logging to logPath, and a clean-up to
// call if the task is not created after all. A task with stdin logs
// through the spool in either mode: the shim connects stdin only when it
// copies the streams itself, which it does not for the binary log driver.
func (r *Runtime) taskIO(id, logPath string, stdin bool) (cio.Creator, func(), error) {
	if logPath == "" {
		return cio.NullIO, func() {}, nil
	}
	if stdin && r.tailer == nil {
		return nil, nil, fmt.Errorf("a container with stdin needs the log spool (Options.LogSpoolDir)")
	}
	if r.opts.LogMode != LogModeAgent && !stdin {
		return r.logIO(logPath), func() {}, nil
	}
	dir := r.spoolDir(id)
	stdout, stderr, err := crilog.CreateSpool(dir, logPath)
	if err != nil {
		return nil, nil, err
	}
	if err := r.tailer.Follow(dir); err != nil {
		_ = os.RemoveAll(dir)
		return nil, nil, err
	}
	undo := func() { _ = r.tailer.Finish(dir) }
	return func(string) (cio.IO, error) {
		return &spoolIO{cfg: cio.Config{Stdout: stdout, Stderr: stderr}}, nil
	}, undo, nil
}

// finishLogs drains the container's spool into its log and removes it;
// the task must be gone (the shim has written and closed everything). A
// container without a spool has nothing to finish.
func (r *Runtime) finishLogs(id string) error {
	if r.tailer == nil {
		return nil
	}
	dir := r.spoolDir(id)
	if _, err := os.Stat(dir); os.IsNotExist(err) {
		return nil
	}
	if err := r.tailer.Finish(dir); err != nil {
		if _, serr := os.Stat(dir); os.IsNotExist(serr) {
			// Drained and removed; the error was writing the log (reported).
			if r.opts.OnLogError != nil {
				r.opts.OnLogError(id, err)
			}
			return nil
		}
		return fmt.Errorf("finish log spool: %w", err)
	}
	return nil
}

// spoolIDs lists the containers that have a log spool.
func (r *Runtime) spoolIDs() ([]string, error) {
	if r.opts.LogSpoolDir == "" {
		return nil, nil
	}
	ents, err := os.ReadDir(r.opts.LogSpoolDir)
	if err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("list log spools: %w", err)
	}
	var ids []string
	for _, e := range ents {
		if e.IsDir() && isContainerID(e.Name()) {
			ids = append(ids, e.Name())
		}
	}
	return ids, nil
}

// spoolIO hands the shim the two spool files as the task's stdout and
// stderr: the shim appends to plain files itself (its copy IO), so the
// client side has nothing to copy, wait for or close.
type spoolIO struct{ cfg cio.Config }

func (s *spoolIO) Config() cio.Config { return s.cfg }
func (s *spoolIO) Cancel()            {}
func (s *spoolIO) Wait()              {}
func (s *spoolIO) Close() error       { return nil }
