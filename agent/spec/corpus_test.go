package spec

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miniagent/miniagent/agent/manifest"
)

// check runs a manifest through the same steps the agent does and returns
// the first problem as text ("" when the manifest is accepted).
func check(data []byte, source string) string {
	pods, err := manifest.Decode(data, source)
	if err != nil {
		return err.Error()
	}
	var problems []string
	for _, p := range pods {
		SetDefaults(p)
		if errs := Validate(p); len(errs) > 0 {
			problems = append(problems, errs.ToAggregate().Error())
		}
	}
	return strings.Join(problems, "\n")
}

func TestBadManifests(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no bad manifests: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			first, _ := bufio.NewReader(bytes.NewReader(data)).ReadString('\n')
			want, ok := strings.CutPrefix(strings.TrimSpace(first), "# want: ")
			if !ok || want == "" {
				t.Fatalf("first line must be `# want: <substring>`, got %q", first)
			}
			got := check(data, file)
			if got == "" {
				t.Fatalf("accepted, want an error containing %q", want)
			}
			if !strings.Contains(got, want) {
				t.Errorf("error does not contain %q:\n%s", want, got)
			}
			if !strings.Contains(got, file) && strings.Contains(got, "error parsing") {
				t.Errorf("decode error does not name the file: %s", got)
			}
		})
	}
}

func TestGoodManifests(t *testing.T) {
	files, _ := filepath.Glob("testdata/good/*.yaml")
	if len(files) == 0 {
		t.Fatal("no good manifests")
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if got := check(data, file); got != "" {
			t.Errorf("%s rejected: %s", file, got)
		}
	}
}
