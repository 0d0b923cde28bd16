package agent

import (
	"sort"
	"strings"

	v1 "k8s.io/api/core/v1"

	"github.com/miniagent/miniagent/runtime"
)

// Kubelet's limits for the Node's status.images: --node-status-max-images
// (default 50) and MaxNamesPerImageInNodeStatus.
const (
	maxNodeImages         = 50
	maxNamesPerNodeImages = 5
)

// nodeImages is the Node's status.images, as kubelet's images setter
// makes it: one entry per image (the references sharing one config
// digest), its names the repo digests (repo@sha256:...) then the repo tags
// (repo:tag), at most 5, with its size; largest first, at most 50.
func nodeImages(list []runtime.ImageInfo) []v1.ContainerImage {
	type group struct {
		digests, tags map[string]bool
		size          int64
	}
	groups := map[string]*group{}
	for _, img := range list {
		key := img.ConfigID
		if key == "" {
			key = "ref:" + img.Ref
		}
		g := groups[key]
		if g == nil {
			g = &group{digests: map[string]bool{}, tags: map[string]bool{}}
			groups[key] = g
		}
		if strings.Contains(img.ID, "@") {
			g.digests[img.ID] = true
		}
		switch {
		case img.Ref == "":
		case strings.Contains(img.Ref, "@"):
			g.digests[img.Ref] = true
		default:
			g.tags[img.Ref] = true
		}
		g.size = max(g.size, img.Size)
	}
	out := make([]v1.ContainerImage, 0, len(groups))
	for _, g := range groups {
		names := append(sortedKeys(g.digests), sortedKeys(g.tags)...)
		if len(names) == 0 {
			continue
		}
		if len(names) > maxNamesPerNodeImages {
			names = names[:maxNamesPerNodeImages]
		}
		out = append(out, v1.ContainerImage{Names: names, SizeBytes: g.size})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].SizeBytes != out[j].SizeBytes {
			return out[i].SizeBytes > out[j].SizeBytes
		}
		return out[i].Names[0] < out[j].Names[0]
	})
	if len(out) > maxNodeImages {
		out = out[:maxNodeImages]
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
