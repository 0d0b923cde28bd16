package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/miniagent/miniagent/agent/api"
)

func TestImageTableGolden(t *testing.T) {
	imgs := []api.Image{
		{Ref: "127.0.0.1:19701/busybox:1", ConfigID: "sha256:a416a98b71e224a31ee99cff8e16063554498227d2b696152a9c3e0aa65e5824", Size: 1048576},
		{Ref: "docker.io/library/busybox:1.36", ConfigID: "sha256:66ba00ad3de8677a3fa4bc4ea0fc46ebca0f14db46ca365e7f60833068dd0148", Size: 4262144},
		{Ref: "docker.io/library/nginx@sha256:" + strings.Repeat("b", 64), ConfigID: "sha256:" + strings.Repeat("c", 64), Size: 999},
		{Ref: "registry.example.com:5000/team/app", ConfigID: "sha256:" + strings.Repeat("d", 64), Size: 0},
	}
	var b bytes.Buffer
	printImageTable(&b, imgs, false)
	want := `IMAGE                                TAG                 IMAGE ID            SIZE
127.0.0.1:19701/busybox              1                   a416a98b71e22       1.05MB
docker.io/library/busybox            1.36                66ba00ad3de86       4.26MB
docker.io/library/nginx              <none>              ccccccccccccc       999B
registry.example.com:5000/team/app   <none>              ddddddddddddd       0B
`
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	printImageTable(&b, imgs[:1], true)
	if !strings.Contains(b.String(), "a416a98b71e224a31ee99cff8e16063554498227d2b696152a9c3e0aa65e5824") {
		t.Errorf("--no-trunc table: %s", b.String())
	}
}

func TestHumanSize(t *testing.T) {
	for size, want := range map[int64]string{
		0: "0B", 999: "999B", 1000: "1kB", 1536: "1.54kB", 1048576: "1.05MB",
		4262144: "4.26MB", 1 << 30: "1.07GB", 123456789012: "123GB",
	} {
		if got := humanSize(size); got != want {
			t.Errorf("humanSize(%d) = %q, want %q", size, got, want)
		}
	}
}

var layerA = "sha256:1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b"
var layerB = "sha256:ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"

func pullSteps() [][]api.BlobProgress {
	return [][]api.BlobProgress{
		{{Digest: "sha256:m", Kind: "manifest", Total: 500, Status: "done", Done: 500},
			{Digest: layerA, Kind: "layer", Total: 2000000, Status: "waiting"},
			{Digest: layerB, Kind: "layer", Total: 1000, Status: "exists", Done: 1000}},
		{{Digest: "sha256:m", Kind: "manifest", Total: 500, Status: "done", Done: 500},
			{Digest: layerA, Kind: "layer", Total: 2000000, Status: "downloading", Done: 1000000},
			{Digest: layerB, Kind: "layer", Total: 1000, Status: "exists", Done: 1000}},
		{{Digest: "sha256:m", Kind: "manifest", Total: 500, Status: "done", Done: 500},
			{Digest: layerA, Kind: "layer", Total: 2000000, Status: "downloading", Done: 1500000},
			{Digest: layerB, Kind: "layer", Total: 1000, Status: "exists", Done: 1000}},
		{{Digest: "sha256:m", Kind: "manifest", Total: 500, Status: "done", Done: 500},
			{Digest: layerA, Kind: "layer", Total: 2000000, Status: "done", Done: 2000000},
			{Digest: layerB, Kind: "layer", Total: 1000, Status: "exists", Done: 1000}},
	}
}

var pulledImage = api.Image{Ref: "127.0.0.1:19701/busybox:1", ConfigID: "sha256:a416a98b71e224a31ee9", Size: 2001500}

func TestPullPrinterPlain(t *testing.T) {
	var b bytes.Buffer
	p := newPullPrinter(&b, false)
	for _, s := range pullSteps() {
		p.update(s)
	}
	p.finish(pulledImage, 1234567*time.Microsecond)
	want := `layer sha256:1a2b3c4d5e6f: waiting 0B/2MB
layer sha256:ffeeddccbbaa: already exists
layer sha256:1a2b3c4d5e6f: downloading 1MB/2MB
layer sha256:1a2b3c4d5e6f: done 2MB
Pulled 127.0.0.1:19701/busybox:1 (IMAGE ID a416a98b71e22, 2MB) in 1.234s
`
	if b.String() != want {
		t.Errorf("plain progress:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestPullPrinterTerminal(t *testing.T) {
	var b bytes.Buffer
	p := newPullPrinter(&b, true)
	steps := pullSteps()
	p.update(steps[0])
	p.update(steps[1])
	const clear = "\x1b[2K"
	want := clear + "sha256:1a2b3c4d5e6f waiting     [                              ] 0B/2MB\n" +
		clear + "sha256:ffeeddccbbaa exists      [==============================] 1kB/1kB\n" +
		clear + "total               downloading [                              ] 1kB/2MB\n" +
		"\x1b[3A" +
		clear + "sha256:1a2b3c4d5e6f downloading [==============>               ] 1MB/2MB\n" +
		clear + "sha256:ffeeddccbbaa exists      [==============================] 1kB/1kB\n" +
		clear + "total               downloading [==============>               ] 1MB/2MB\n"
	if b.String() != want {
		t.Errorf("tty progress:\n%q\nwant:\n%q", b.String(), want)
	}
	b.Reset()
	p.update(steps[3])
	p.finish(pulledImage, 2*time.Second)
	got := b.String()
	if !strings.Contains(got, "total               done        [==============================] 2MB/2MB\n") ||
		!strings.HasSuffix(got, "Pulled 127.0.0.1:19701/busybox:1 (IMAGE ID a416a98b71e22, 2MB) in 2s\n") {
		t.Errorf("tty final:\n%q", got)
	}
}

func TestSplitRepoTag(t *testing.T) {
	for ref, want := range map[string][2]string{
		"docker.io/library/busybox:1.36": {"docker.io/library/busybox", "1.36"},
		"localhost:5000/a":               {"localhost:5000/a", "<none>"},
		"localhost:5000/a:v1":            {"localhost:5000/a", "v1"},
		"x/y@sha256:abc":                 {"x/y", "<none>"},
	} {
		if r, tag := splitRepoTag(ref); r != want[0] || tag != want[1] {
			t.Errorf("splitRepoTag(%q) = %q %q, want %q", ref, r, tag, want)
		}
	}
}

func TestImageUsage(t *testing.T) {
	for _, args := range [][]string{{"image"}, {"image", "pull"}, {"image", "frob"}, {"image", "rm"}, {"image", "ls", "x"}} {
		var out, errb bytes.Buffer
		if code := run(t.Context(), nil, args, nil, &out, &errb); code != 2 || errb.Len() == 0 {
			t.Errorf("%v: code %d, stderr %q", args, code, errb.String())
		}
	}
}
