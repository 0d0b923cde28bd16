package cli

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"

	"k8s.io/client-go/tools/remotecommand"
)

// cpSpec is one side of `cp`: a local path, or POD:PATH.
type cpSpec struct {
	pod  string // "" for a local path
	path string
}

// parseCpSpec reads [NAMESPACE/]POD:PATH or a local path. As in kubectl,
// a local path containing ':' must start with ./ or / to be read as local.
func parseCpSpec(s string) (cpSpec, error) {
	if s == "" {
		return cpSpec{}, errors.New("filepath can not be empty")
	}
	if strings.HasPrefix(s, "/") || strings.HasPrefix(s, ".") {
		return cpSpec{path: s}, nil
	}
	pod, p, ok := strings.Cut(s, ":")
	if !ok {
		return cpSpec{path: s}, nil
	}
	if pod == "" || p == "" {
		return cpSpec{}, fmt.Errorf("%q: expected POD:PATH with a pod name and a path", s)
	}
	return cpSpec{pod: pod, path: p}, nil
}

// cp copies a file or directory to or from a container through tar in
// the container, as kubectl does (the image must have tar).
func (a *app) cp(ctx context.Context, args []string) int {
	fs := a.flagSet("cp")
	container := fs.StringP("container", "c", "", "container name")
	rest, err := a.parse(fs, args)
	if err != nil {
		return a.flagError(err)
	}
	if len(rest) != 2 {
		return a.fail(errors.New("source and destination are required: cp SRC DEST (one of them POD:PATH)"))
	}
	src, err := parseCpSpec(rest[0])
	if err != nil {
		return a.fail(err)
	}
	dst, err := parseCpSpec(rest[1])
	if err != nil {
		return a.fail(err)
	}
	switch {
	case src.pod != "" && dst.pod == "":
		err = a.copyFromPod(ctx, src, dst.path, *container)
	case src.pod == "" && dst.pod != "":
		err = a.copyToPod(ctx, src.path, dst, *container)
	default:
		return a.fail(errors.New("one of src or dest must be a local file specification, the other a remote one (POD:PATH)"))
	}
	if err != nil {
		return a.fail(err)
	}
	return 0
}

// podExec runs cmd in the pod's container and returns its stdout.
func (a *app) podExec(ctx context.Context, pod, container string, cmd []string, stdin io.Reader, stdout io.Writer) error {
	name, err := a.streamTarget(ctx, "exec into", execArgs{pod: pod, container: container, quiet: true})
	if err != nil {
		return err
	}
	q := url.Values{"container": {name}, "stdout": {"1"}, "stderr": {"1"}, "command": cmd}
	var stderr bytes.Buffer
	opts := remotecommand.StreamOptions{Stdout: stdout, Stderr: &stderr}
	if stdin != nil {
		q.Set("stdin", "1")
		opts.Stdin = stdin
	}
	err = streamExec(ctx, a.socket, streamURL(a.namespace, pod, "exec", q), opts)
	if err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return fmt.Errorf("%s: %w", msg, err)
		}
		return err
	}
	a.stderr.Write(stderr.Bytes())
	return nil
}

// copyToPod tars src (a file or a directory) and unpacks it in the pod
// with `tar -xmf - -C DIR`; into DEST/base(src) when DEST is a directory.
func (a *app) copyToPod(ctx context.Context, src string, dst cpSpec, container string) error {
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("%s doesn't exist in local filesystem", src)
	}
	dest := path.Clean(dst.path)
	if a.podExec(ctx, dst.pod, container, []string{"test", "-d", dest}, nil, io.Discard) == nil {
		dest = path.Join(dest, filepath.Base(filepath.Clean(src)))
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeTar(pw, filepath.Clean(src), path.Base(dest))) }()
	defer pr.Close()
	cmd := []string{"tar", "-xmf", "-"}
	if dir := path.Dir(dest); dir != "" {
		cmd = append(cmd, "-C", dir)
	}
	return a.podExec(ctx, dst.pod, container, cmd, pr, io.Discard)
}

// writeTar writes src (file, directory tree or symlink) as a tar stream
// whose entries start with name.
func writeTar(w io.Writer, src, name string) error {
	tw := tar.NewWriter(w)
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		link := ""
		if fi.Mode()&os.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		hdr.Name = path.Join(name, filepath.ToSlash(rel))
		if fi.IsDir() {
			hdr.Name += "/"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// copyFromPod runs `tar cf - SRC` in the pod and unpacks it at dst.
func (a *app) copyFromPod(ctx context.Context, src cpSpec, dst, container string) error {
	pr, pw := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		err := a.podExec(ctx, src.pod, container, []string{"tar", "cf", "-", src.path}, nil, pw)
		pw.CloseWithError(err)
		errc <- err
	}()
	// The tar in the pod strips a leading "/" from member names.
	prefix := strings.TrimLeft(path.Clean(src.path), "/")
	uerr := untar(pr, prefix, dst, a.stderr)
	pr.CloseWithError(errors.New("stopped reading"))
	if err := <-errc; err != nil {
		return err
	}
	return uerr
}

// untar writes the entries below prefix to dst (a directory's entries
// into dst, as kubectl does; a single file to dst, or into dst when that
// is a directory), refusing entries that
// would land outside dst; symbolic links are skipped with a warning, as
// kubectl does.
func untar(r io.Reader, prefix, dst string, warn io.Writer) error {
	tr := tar.NewReader(r)
	seen := false
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			if !seen {
				return fmt.Errorf("%s: nothing was copied", prefix)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("read the tar stream from the pod: %w", err)
		}
		name := strings.TrimSuffix(path.Clean(hdr.Name), "/")
		if name != prefix && !strings.HasPrefix(name, prefix+"/") {
			return fmt.Errorf("tar entry %q is not below %q", hdr.Name, prefix)
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(name, prefix), "/")
		if rel != "" && !filepath.IsLocal(rel) {
			return fmt.Errorf("tar entry %q leaves the destination", hdr.Name)
		}
		target := filepath.Join(dst, filepath.FromSlash(rel))
		seen = true
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if fi, err := os.Stat(target); rel == "" && err == nil && fi.IsDir() {
				target = filepath.Join(target, path.Base(prefix)) // a file into a directory
			}
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(target, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, hdr.FileInfo().Mode().Perm())
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		case tar.TypeSymlink, tar.TypeLink:
			fmt.Fprintf(warn, "warning: skipping symlink: %q -> %q\n", target, hdr.Linkname)
		default:
			fmt.Fprintf(warn, "warning: skipping %q: not a file or directory\n", hdr.Name)
		}
	}
}
