package cli

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/miniagent/miniagent/agent/api"
)

// pullPrinter shows a pull's progress. On a terminal it redraws one line
// per layer and a total line with bars (bytes done/total); otherwise it
// prints a plain line each time a blob changes state, so logs stay short.
type pullPrinter struct {
	w     io.Writer
	tty   bool
	drawn int               // tty: lines drawn last time
	state map[string]string // plain: last status per blob
	last  []api.BlobProgress
}

func newPullPrinter(w io.Writer, tty bool) *pullPrinter {
	return &pullPrinter{w: w, tty: tty, state: map[string]string{}}
}

const barWidth = 30

func (p *pullPrinter) update(blobs []api.BlobProgress) {
	p.last = blobs
	if p.tty {
		p.redraw(blobs)
		return
	}
	for _, b := range blobs {
		if b.Kind != "layer" || p.state[b.Digest] == b.Status {
			continue
		}
		p.state[b.Digest] = b.Status
		fmt.Fprintln(p.w, plainLine(b))
	}
}

// finish draws the final state and the summary line.
func (p *pullPrinter) finish(img api.Image, elapsed time.Duration) {
	if p.last != nil {
		final := make([]api.BlobProgress, len(p.last))
		copy(final, p.last)
		p.update(final)
	}
	fmt.Fprintf(p.w, "Pulled %s (IMAGE ID %s, %s) in %s\n", img.Ref, truncateID(img.ConfigID), humanSize(img.Size), formatElapsed(elapsed))
}

func (p *pullPrinter) redraw(blobs []api.BlobProgress) {
	var b strings.Builder
	if p.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", p.drawn) // back to the first line
	}
	lines := ttyLines(blobs)
	for _, l := range lines {
		b.WriteString("\x1b[2K") // clear the line
		b.WriteString(l)
		b.WriteByte('\n')
	}
	p.drawn = len(lines)
	io.WriteString(p.w, b.String())
}

// ttyLines renders one line per layer and a total line.
func ttyLines(blobs []api.BlobProgress) []string {
	var out []string
	var done, total int64
	all := true
	for _, b := range blobs {
		if b.Kind != "layer" {
			continue
		}
		done += b.Done
		total += b.Total
		if b.Status != "done" && b.Status != "exists" {
			all = false
		}
		out = append(out, fmt.Sprintf("%-19s %-11s %s %s", shortDigest(b.Digest), statusWord(b.Status), bar(b.Done, b.Total), sizes(b)))
	}
	st := "downloading"
	if all {
		st = "done"
	}
	out = append(out, fmt.Sprintf("%-19s %-11s %s %s/%s", "total", st, bar(done, total), humanSize(done), humanSize(total)))
	return out
}

func plainLine(b api.BlobProgress) string {
	switch b.Status {
	case "done":
		return fmt.Sprintf("layer %s: done %s", shortDigest(b.Digest), humanSize(b.Total))
	case "exists":
		return fmt.Sprintf("layer %s: already exists", shortDigest(b.Digest))
	}
	return fmt.Sprintf("layer %s: %s %s/%s", shortDigest(b.Digest), b.Status, humanSize(b.Done), humanSize(b.Total))
}

func statusWord(s string) string {
	if s == "exists" {
		return "exists"
	}
	return s
}

func sizes(b api.BlobProgress) string {
	return humanSize(b.Done) + "/" + humanSize(b.Total)
}

// shortDigest is "sha256:" and the first 12 hex digits.
func shortDigest(d string) string {
	if i := strings.IndexByte(d, ':'); i >= 0 && len(d) > i+13 {
		return d[:i+13]
	}
	return d
}

// bar is a [=====>    ] bar of barWidth cells.
func bar(done, total int64) string {
	n := 0
	if total > 0 {
		n = int(done * barWidth / total)
	}
	if n > barWidth {
		n = barWidth
	}
	s := strings.Repeat("=", n)
	if n < barWidth {
		if n > 0 {
			s = s[:n-1] + ">"
		}
		s += strings.Repeat(" ", barWidth-n)
	}
	return "[" + s + "]"
}
