package agent

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	v1 "k8s.io/api/core/v1"

	"github.com/miniagent/miniagent/runtime"
)

func TestNodeImages(t *testing.T) {
	busybox := "docker.io/library/busybox@sha256:aaa"
	for _, tc := range []struct {
		name string
		in   []runtime.ImageInfo
		want []v1.ContainerImage
	}{
		{"none", nil, []v1.ContainerImage{}},
		{
			"refs of one image grouped: digests then tags",
			[]runtime.ImageInfo{
				{Ref: "docker.io/library/busybox:latest", ID: busybox, ConfigID: "sha256:c1", Size: 100},
				{Ref: "docker.io/library/busybox:1.36", ID: busybox, ConfigID: "sha256:c1", Size: 100},
				{Ref: busybox, ID: busybox, ConfigID: "sha256:c1", Size: 100},
			},
			[]v1.ContainerImage{{Names: []string{busybox, "docker.io/library/busybox:1.36", "docker.io/library/busybox:latest"}, SizeBytes: 100}},
		},
		{
			"largest first",
			[]runtime.ImageInfo{
				{Ref: "a:1", ID: "a@sha256:1", ConfigID: "sha256:a", Size: 10},
				{Ref: "b:1", ID: "b@sha256:1", ConfigID: "sha256:b", Size: 30},
				{Ref: "c:1", ID: "c@sha256:1", ConfigID: "sha256:c", Size: 20},
			},
			[]v1.ContainerImage{
				{Names: []string{"b@sha256:1", "b:1"}, SizeBytes: 30},
				{Names: []string{"c@sha256:1", "c:1"}, SizeBytes: 20},
				{Names: []string{"a@sha256:1", "a:1"}, SizeBytes: 10},
			},
		},
		{
			"an image whose content is gone is listed by its name",
			[]runtime.ImageInfo{{Ref: "gone:1"}},
			[]v1.ContainerImage{{Names: []string{"gone:1"}}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := nodeImages(tc.in); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("nodeImages = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestNodeImagesLimits(t *testing.T) {
	var in []runtime.ImageInfo
	for i := range 60 {
		in = append(in, runtime.ImageInfo{Ref: fmt.Sprintf("img%02d:1", i), ID: fmt.Sprintf("img%02d@sha256:1", i), ConfigID: fmt.Sprintf("sha256:%d", i), Size: int64(i)})
	}
	for i := range 7 {
		in = append(in, runtime.ImageInfo{Ref: fmt.Sprintf("big:%d", i), ID: "big@sha256:1", ConfigID: "sha256:big", Size: 1000})
	}
	got := nodeImages(in)
	if len(got) != 50 {
		t.Fatalf("%d images, want at most 50", len(got))
	}
	if got[0].SizeBytes != 1000 || len(got[0].Names) != 5 || got[0].Names[0] != "big@sha256:1" {
		t.Fatalf("first image %+v, want big with 5 names, its digest first", got[0])
	}
	if last := got[49]; last.SizeBytes != 11 {
		t.Fatalf("last image %+v, want the 49th largest (size 11)", last)
	}
}

func TestNodeShowsImages(t *testing.T) {
	h := newHarness(t)
	n, err := h.a.Node(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(n.Status.Images) != 1 || n.Status.Images[0].Names[0] != "docker.io/library/busybox@sha256:abc" ||
		n.Status.Images[0].Names[1] != "docker.io/library/busybox:latest" {
		t.Fatalf("status.images = %+v", n.Status.Images)
	}
}
