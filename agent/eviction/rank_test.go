package eviction

import (
	"reflect"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

const mi = int64(1 << 20)

// pod makes a pod named name with one container "c" requesting memReq ("" =
// none) and the given priority, using ws bytes.
func pod(name, memReq string, prio int32, ws int64) PodStats {
	c := v1.Container{Name: "c"}
	if memReq != "" {
		c.Resources.Requests = v1.ResourceList{v1.ResourceMemory: resource.MustParse(memReq)}
	}
	p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name)},
		Spec: v1.PodSpec{Priority: &prio, Containers: []v1.Container{c}}}
	return PodStats{Pod: p, WorkingSet: ws, Containers: []ContainerUsage{{Name: "c", WorkingSet: ws}}}
}

func names(ps []PodStats) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Pod.Name)
	}
	return out
}

func TestRank(t *testing.T) {
	tests := []struct {
		name string
		pods []PodStats
		want []string
	}{
		{"exceeding requests first, whatever the priority",
			[]PodStats{pod("within", "200Mi", 0, 100*mi), pod("over-high-prio", "10Mi", 1000, 20*mi)},
			[]string{"over-high-prio", "within"}},
		{"then lower priority",
			[]PodStats{pod("prio-10", "", 10, 500*mi), pod("prio-0", "", 0, 1*mi)},
			[]string{"prio-0", "prio-10"}},
		{"then usage above request",
			[]PodStats{pod("small", "", 0, 10*mi), pod("big", "", 0, 300*mi), pod("big-but-requested", "250Mi", 0, 310*mi)},
			[]string{"big", "big-but-requested", "small"}},
		{"within requests ranked by usage minus request",
			[]PodStats{pod("a", "500Mi", 0, 100*mi), pod("b", "100Mi", 0, 90*mi)},
			[]string{"b", "a"}},
		{"stable for equals", []PodStats{pod("x", "", 0, mi), pod("y", "", 0, mi)}, []string{"x", "y"}},
	}
	for _, tc := range tests {
		if got := names(Rank(tc.pods)); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: Rank = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestMessage(t *testing.T) {
	th := Threshold{Signal: SignalMemoryAvailable, Value: Value{Quantity: q("100Mi")}, Hard: true}
	obs := SignalObservation{Capacity: 1000 * mi, Available: 50 * mi}
	two := pod("two", "", 0, 0)
	two.Pod.Spec.Containers = append(two.Pod.Spec.Containers, v1.Container{Name: "d",
		Resources: v1.ResourceRequirements{Requests: v1.ResourceList{v1.ResourceMemory: resource.MustParse("64Mi")}}})
	two.Containers = []ContainerUsage{{Name: "c", WorkingSet: 200 * mi}, {Name: "d", WorkingSet: 32 * mi}}
	pctTh := Threshold{Signal: SignalAllocatableMemoryAvailable, Value: Value{Percentage: 0.1}, Hard: true}
	tests := []struct {
		name string
		th   *Threshold
		obs  *SignalObservation
		p    PodStats
		want string
	}{
		{"kubelet's example", &th, &obs, pod("x", "", 0, 200*mi),
			"The node was low on resource: memory. Threshold quantity: 100Mi, available: 50Mi. Container c was using 200Mi, request is 0, has larger consumption of memory. "},
		{"only containers above request are named", &th, &obs, two,
			"The node was low on resource: memory. Threshold quantity: 100Mi, available: 50Mi. Container c was using 200Mi, request is 0, has larger consumption of memory. "},
		{"odd available bytes", &th, &SignalObservation{Capacity: 1000 * mi, Available: 50*mi + 512}, pod("x", "300Mi", 0, 100*mi),
			"The node was low on resource: memory. Threshold quantity: 100Mi, available: 52429312. "},
		{"percentage threshold shown as bytes", &pctTh, &SignalObservation{Capacity: 1000 * mi, Available: 10 * mi}, pod("x", "300Mi", 0, 100*mi),
			"The node was low on resource: memory. Threshold quantity: 100Mi, available: 10Mi. "},
		{"no threshold", nil, nil, pod("x", "", 0, 0), "The node was low on resource: memory. "},
	}
	for _, tc := range tests {
		if got := Message(tc.th, tc.obs, tc.p); got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}
}

func TestIsCritical(t *testing.T) {
	crit := pod("c", "", 2000000000, 0)
	static := pod("s", "", 0, 0)
	static.Pod.Annotations = map[string]string{"kubernetes.io/config.source": "file"}
	api := pod("a", "", 0, 0)
	api.Pod.Annotations = map[string]string{"kubernetes.io/config.source": "api"}
	for _, tc := range []struct {
		p    PodStats
		want bool
	}{{crit, true}, {static, true}, {api, false}, {pod("n", "", 1000, 0), false}} {
		if got := IsCritical(tc.p.Pod); got != tc.want {
			t.Errorf("IsCritical(%s) = %v", tc.p.Pod.Name, got)
		}
	}
}
