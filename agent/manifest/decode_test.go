package manifest

import (
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		want    []string // pod names in order
		wantErr []string // substrings of the error
	}{
		{
			name: "one pod",
			data: "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n  - name: c\n    image: busybox\n",
			want: []string{"web"},
		},
		{
			name: "list of pods",
			data: `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: a}
  spec: {containers: [{name: c, image: busybox}]}
- apiVersion: v1
  kind: Pod
  metadata: {name: b}
  spec: {containers: [{name: c, image: busybox}]}
`,
			want: []string{"a", "b"},
		},
		{
			name: "PodList",
			data: "apiVersion: v1\nkind: PodList\nitems:\n- {apiVersion: v1, kind: Pod, metadata: {name: p}}\n",
			want: []string{"p"},
		},
		{
			name: "multi-document with empty documents and comments",
			data: "---\n# nothing here\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: a}\n---\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: b}\n---\n",
			want: []string{"a", "b"},
		},
		{
			name: "json object",
			data: `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"j"},"spec":{"containers":[{"name":"c","image":"x"}]}}`,
			want: []string{"j"},
		},
		{
			name: "json stream",
			data: `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"j1"}}
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"j2"}}`,
			want: []string{"j1", "j2"},
		},
		{
			name:    "unknown container field with path",
			data:    "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers:\n  - name: c\n    image: x\n    imagePullPolicyy: Always\n",
			wantErr: []string{"error parsing f.yaml (document 1)", `unknown field "spec.containers[0].imagePullPolicyy"`},
		},
		{
			name:    "unknown field in second document",
			data:    "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: b, labelz: {}}\n",
			wantErr: []string{"(document 2)", `unknown field "metadata.labelz"`},
		},
		{
			name:    "unknown field inside list item",
			data:    "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: a}\n  spec: {containers: [{name: c, imagee: x}]}\n",
			wantErr: []string{`unknown field "items[0].spec.containers[0].imagee"`},
		},
		{
			name:    "duplicate field",
			data:    "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  restartPolicy: Always\n  restartPolicy: Never\n",
			wantErr: []string{"restartPolicy", "already set"},
		},
		{
			name:    "wrong kind",
			data:    "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n",
			wantErr: []string{`unsupported kind "Service"`},
		},
		{
			name:    "wrong apiVersion",
			data:    "apiVersion: apps/v1\nkind: Pod\nmetadata: {name: a}\n",
			wantErr: []string{`"apps/v1"`},
		},
		{
			name:    "missing kind",
			data:    "apiVersion: v1\nmetadata: {name: a}\n",
			wantErr: []string{"Kind' is missing"},
		},
		{
			name:    "wrong type",
			data:    "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers: {name: c}\n",
			wantErr: []string{"error parsing f.yaml"},
		},
		{
			name:    "list holding a service",
			data:    "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Service\n",
			wantErr: []string{"items[0]", "only hold v1 Pods"},
		},
		{
			name: "empty file",
			data: "\n# just a comment\n",
		},
		{
			name:    "yaml syntax error",
			data:    "apiVersion: v1\nkind: Pod\n  metadata: [\n",
			wantErr: []string{"error parsing f.yaml", "YAML"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pods, err := Decode([]byte(tc.data), "f.yaml")
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatalf("want error containing %q, got %d pods", tc.wantErr, len(pods))
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not contain %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			var names []string
			for _, p := range pods {
				names = append(names, p.Name)
			}
			if strings.Join(names, ",") != strings.Join(tc.want, ",") {
				t.Errorf("got pods %v, want %v", names, tc.want)
			}
		})
	}
}

func TestDecodeKeepsFields(t *testing.T) {
	data := "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  labels: {app: web}\nspec:\n  containers:\n  - name: c\n    image: busybox:1.28\n    resources:\n      limits: {memory: 64Mi}\n"
	pods, err := Decode([]byte(data), "f.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p := pods[0]
	if p.Labels["app"] != "web" || p.Spec.Containers[0].Image != "busybox:1.28" {
		t.Errorf("fields lost: %+v", p)
	}
	if got := p.Spec.Containers[0].Resources.Limits.Memory().String(); got != "64Mi" {
		t.Errorf("memory limit = %s, want 64Mi", got)
	}
}
