package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/miniagent/miniagent/agent/api"
)

const imageUsage = `usage: miniagent image pull REF | ls [-q] [--no-trunc] | rm REF...
       miniagent image import FILE.tar [--containerd-address PATH] [--containerd-namespace NS]`

// image runs `image pull|ls|rm` through the daemon, so pulls queue with
// the pods' pulls and removal is checked against the daemon's pods.
func (a *app) image(ctx context.Context, args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(a.stderr, imageUsage)
		return 2
	}
	switch args[0] {
	case "pull":
		return a.imagePull(ctx, args[1:])
	case "ls", "list":
		return a.imageList(ctx, args[1:])
	case "rm", "remove":
		return a.imageRemove(ctx, args[1:])
	}
	fmt.Fprintf(a.stderr, "error: unknown image command %q\n%s\n", args[0], imageUsage)
	return 2
}

func (a *app) imagePull(ctx context.Context, args []string) int {
	fs := a.flagSet("miniagent image pull")
	rest, err := a.parse(fs, args)
	if err != nil {
		return a.flagError(err)
	}
	if len(rest) != 1 {
		fmt.Fprintln(a.stderr, "error: image pull takes one image reference\n"+imageUsage)
		return 2
	}
	pp := newPullPrinter(a.stdout, isTerminal(a.stdout))
	fmt.Fprintf(a.stdout, "Pulling image %q\n", rest[0])
	start := a.clock.Now()
	img, err := a.client().PullImage(ctx, rest[0], pp.update)
	if err != nil {
		return a.fail(err)
	}
	pp.finish(img, a.clock.Since(start))
	return 0
}

func (a *app) imageList(ctx context.Context, args []string) int {
	fs := a.flagSet("miniagent image ls")
	quiet := fs.BoolP("quiet", "q", false, "only image IDs")
	noTrunc := fs.Bool("no-trunc", false, "full image IDs")
	rest, err := a.parse(fs, args)
	if err != nil {
		return a.flagError(err)
	}
	if len(rest) != 0 {
		fmt.Fprintln(a.stderr, "error: image ls takes no arguments")
		return 2
	}
	imgs, err := a.client().ListImages(ctx)
	if err != nil {
		return a.fail(err)
	}
	if *quiet {
		for _, i := range imgs {
			fmt.Fprintln(a.stdout, i.ConfigID)
		}
		return 0
	}
	printImageTable(a.stdout, imgs, *noTrunc)
	return 0
}

func (a *app) imageRemove(ctx context.Context, args []string) int {
	fs := a.flagSet("miniagent image rm")
	rest, err := a.parse(fs, args)
	if err != nil {
		return a.flagError(err)
	}
	if len(rest) == 0 {
		fmt.Fprintln(a.stderr, "error: image rm needs at least one image reference\n"+imageUsage)
		return 2
	}
	code := 0
	for _, ref := range rest {
		if err := a.client().RemoveImage(ctx, ref); err != nil {
			code = a.fail(err)
			continue
		}
		fmt.Fprintf(a.stdout, "Deleted: %s\n", ref)
	}
	return code
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// printImageTable prints crictl's `images` table: IMAGE, TAG, IMAGE ID
// (the config digest, 13 characters unless noTrunc), SIZE.
func printImageTable(w io.Writer, imgs []api.Image, noTrunc bool) {
	tw := tabwriter.NewWriter(w, 20, 1, 3, ' ', 0)
	fmt.Fprintln(tw, "IMAGE\tTAG\tIMAGE ID\tSIZE")
	for _, i := range imgs {
		repo, tag := splitRepoTag(i.Ref)
		id := i.ConfigID
		if !noTrunc {
			id = truncateID(id)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", repo, tag, id, humanSize(i.Size))
	}
	tw.Flush()
}

// splitRepoTag splits "host:5000/a/b:tag" into repository and tag;
// a digest reference or a name without a tag has tag "<none>".
func splitRepoTag(ref string) (string, string) {
	if i := strings.Index(ref, "@"); i >= 0 {
		return ref[:i], "<none>"
	}
	slash := strings.LastIndex(ref, "/")
	if i := strings.LastIndex(ref, ":"); i > slash {
		return ref[:i], ref[i+1:]
	}
	return ref, "<none>"
}

// truncateID is crictl's: the part after "sha256:", 13 characters.
func truncateID(id string) string {
	if i := strings.IndexByte(id, ':'); i >= 0 {
		id = id[i+1:]
	}
	if len(id) > 13 {
		id = id[:13]
	}
	return id
}

// humanSize is docker's units.HumanSizeWithPrecision(size, 3), which
// crictl prints: decimal units, three significant digits ("4.26MB").
func humanSize(size int64) string {
	units := []string{"B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"}
	f := float64(size)
	i := 0
	for f >= 1000 && i < len(units)-1 {
		f /= 1000
		i++
	}
	return fmt.Sprintf("%.*g%s", 3, f, units[i])
}

// formatElapsed rounds a pull's wall time for the final line.
func formatElapsed(d time.Duration) string {
	return d.Truncate(time.Millisecond).String()
}
