package cli

import (
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestDescribeNodePods(t *testing.T) {
	e := newEnv(t)
	e.b.NodeObj = &v1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "node1", CreationTimestamp: ago(time.Hour), Labels: map[string]string{"kubernetes.io/hostname": "node1"}},
		Spec:       v1.NodeSpec{Taints: []v1.Taint{{Key: "dedicated", Value: "db", Effect: v1.TaintEffectNoSchedule}}},
		Status: v1.NodeStatus{
			Allocatable: v1.ResourceList{v1.ResourceCPU: resource.MustParse("2"), v1.ResourceMemory: resource.MustParse("1Gi"),
				v1.ResourcePods: resource.MustParse("110"), v1.ResourceEphemeralStorage: resource.MustParse("10Gi")},
		},
	}
	web := statusPod("web")
	web.Spec.NodeName = "node1"
	web.Spec.Containers[0].Resources = v1.ResourceRequirements{
		Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse("500m"), v1.ResourceMemory: resource.MustParse("256Mi")},
		Limits:   v1.ResourceList{v1.ResourceMemory: resource.MustParse("512Mi")},
	}
	web.Spec.InitContainers = []v1.Container{{Name: "init", Resources: v1.ResourceRequirements{Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse("1")}}}}
	e.b.SetPod(web)
	other := statusPod("batch")
	other.Namespace = "jobs"
	e.b.SetPod(other)
	done := statusPod("done")
	done.Status.Phase = v1.PodSucceeded
	e.b.SetPod(done)

	got := e.mustRun("describe", "node", "node1")
	want := `Taints:             dedicated=db:NoSchedule
Unschedulable:      false
Addresses:
Allocatable:
  cpu:                2
  ephemeral-storage:  10Gi
  memory:             1Gi
  pods:               110
System Info:
  Machine ID:                 
  System UUID:                
  Boot ID:                    
  Kernel Version:             
  OS Image:                   
  Operating System:           
  Architecture:               
  Container Runtime Version:  
  Kubelet Version:            
Non-terminated Pods:          (2 in total)
  Namespace                   Name     CPU Requests  CPU Limits  Memory Requests  Memory Limits  Age
  ---------                   ----     ------------  ----------  ---------------  -------------  ---
  default                     web      1 (50%)       0 (0%)      256Mi (25%)      512Mi (50%)    3m2s
  jobs                        batch    0 (0%)        0 (0%)      0 (0%)           0 (0%)         3m2s
Allocated resources:
  (Total limits may be over 100 percent, i.e., overcommitted.)
  Resource           Requests     Limits
  --------           --------     ------
  cpu                1 (50%)      0 (0%)
  memory             256Mi (25%)  512Mi (50%)
  ephemeral-storage  0 (0%)       0 (0%)
Events:              <none>
`
	if i := strings.Index(got, "Taints:"); i < 0 || got[i:] != want {
		t.Errorf("describe node:\n%s\nwant tail:\n%s", got, want)
	}
}

func TestDescribePodPreferredAffinity(t *testing.T) {
	e := newEnv(t)
	e.b.NodeObj.Labels = map[string]string{"kubernetes.io/hostname": "node1", "disktype": "ssd"}
	db := statusPod("db")
	db.Labels = map[string]string{"app": "db"}
	e.b.SetPod(db)
	p := statusPod("web")
	p.Spec.Affinity = &v1.Affinity{
		NodeAffinity: &v1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []v1.PreferredSchedulingTerm{
			{Weight: 10, Preference: v1.NodeSelectorTerm{MatchExpressions: []v1.NodeSelectorRequirement{{Key: "disktype", Operator: v1.NodeSelectorOpIn, Values: []string{"ssd"}}}}},
			{Weight: 5, Preference: v1.NodeSelectorTerm{MatchExpressions: []v1.NodeSelectorRequirement{{Key: "gpu", Operator: v1.NodeSelectorOpExists}}}},
		}},
		PodAntiAffinity: &v1.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []v1.WeightedPodAffinityTerm{
			{Weight: 50, PodAffinityTerm: v1.PodAffinityTerm{LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}, TopologyKey: "kubernetes.io/hostname"}},
		}},
	}
	e.b.SetPod(p)
	got := e.mustRun("describe", "pod", "web")
	want := `Tolerations:        <none>
Preferred Affinity:
  Type             Weight  Term                                         Satisfied
  ----             ------  ----                                         ---------
  NodeAffinity     10      disktype in (ssd)                            yes
  NodeAffinity     5       gpu                                          no
  PodAntiAffinity  50      {app=db} topologyKey kubernetes.io/hostname  no
Events:  <none>
`
	if i := strings.Index(got, "Tolerations:"); i < 0 || got[i:] != want {
		t.Errorf("describe pod:\n%s\nwant tail:\n%s", got, want)
	}
}
