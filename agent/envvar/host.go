package envvar

import (
	"bufio"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Option changes how ContainerEnv resolves values.
type Option func(*options)

type options struct {
	allocatable v1.ResourceList
}

// WithNodeAllocatable sets the node allocatable resources that stand in for
// unset limits in resourceFieldRef values. Without it, HostAllocatable() is
// used.
func WithNodeAllocatable(list v1.ResourceList) Option {
	return func(o *options) { o.allocatable = list }
}

var (
	hostOnce  sync.Once
	hostAlloc v1.ResourceList
)

// HostAllocatable returns this machine's cpu (online CPUs), memory
// (MemTotal of /proc/meminfo) and ephemeral-storage (size of the filesystem
// holding /var/lib) — miniagent reserves nothing, so allocatable equals
// capacity. It is read once and cached; resources that cannot be read are
// left out.
func HostAllocatable() v1.ResourceList {
	hostOnce.Do(func() {
		hostAlloc = v1.ResourceList{
			v1.ResourceCPU: *resource.NewQuantity(int64(goruntime.NumCPU()), resource.DecimalSI),
		}
		if mem, ok := memTotal("/proc/meminfo"); ok {
			hostAlloc[v1.ResourceMemory] = *resource.NewQuantity(mem, resource.BinarySI)
		}
		var fs unix.Statfs_t
		if unix.Statfs("/var/lib", &fs) == nil {
			hostAlloc[v1.ResourceEphemeralStorage] = *resource.NewQuantity(int64(fs.Blocks)*fs.Bsize, resource.BinarySI)
		}
	})
	return hostAlloc.DeepCopy()
}

// memTotal reads MemTotal (in bytes) from a meminfo file.
func memTotal(path string) (int64, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			return 0, false
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, false
		}
		return kb * 1024, true
	}
	return 0, false
}
