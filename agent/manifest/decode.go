package manifest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	v1 "k8s.io/api/core/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// typeMeta is the part of every document read before the strict decode.
type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

// podList is a v1 List whose items are decoded one by one.
type podList struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   json.RawMessage   `json:"metadata,omitempty"`
	Items      []json.RawMessage `json:"items"`
}

// Decode parses one file's bytes: a stream of YAML documents (separated by
// "---") or of JSON objects. Each document is a v1 Pod or a v1 List (or
// PodList) of Pods.
// Decoding is strict: unknown and duplicate fields are errors naming the field
// path, the source and the document number. Empty documents are skipped.
func Decode(data []byte, source string) ([]*v1.Pod, error) {
	docs, bad, err := splitDocuments(data)
	if err != nil {
		return nil, fmt.Errorf("error parsing %s (document %d): %w", source, bad, err)
	}
	var pods []*v1.Pod
	for i, doc := range docs {
		got, err := decodeDocument(doc)
		if err != nil {
			return nil, fmt.Errorf("error parsing %s (document %d): %w", source, i+1, err)
		}
		pods = append(pods, got...)
	}
	return pods, nil
}

// splitDocuments returns every document of data as JSON; empty documents
// come back as nil so document numbers stay those the user sees. On error
// it also returns the number of the document that failed.
func splitDocuments(data []byte) ([][]byte, int, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, 0, nil
	}
	if trimmed[0] == '{' {
		return splitJSON(trimmed)
	}
	var docs [][]byte
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for n := 1; ; n++ {
		raw, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, 0, nil
		}
		if err != nil {
			return nil, n, err
		}
		js, err := yaml.YAMLToJSONStrict(raw)
		if err != nil {
			return nil, n, fmt.Errorf("error converting YAML to JSON: %w", err)
		}
		docs = append(docs, emptyToNil(js))
	}
}

// splitJSON reads a stream of JSON values.
func splitJSON(data []byte) ([][]byte, int, error) {
	var docs [][]byte
	dec := json.NewDecoder(bytes.NewReader(data))
	for n := 1; ; n++ {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			return docs, 0, nil
		}
		if err != nil {
			return nil, n, fmt.Errorf("invalid JSON: %w", err)
		}
		docs = append(docs, emptyToNil(raw))
	}
}

func emptyToNil(js []byte) []byte {
	s := bytes.TrimSpace(js)
	if len(s) == 0 || string(s) == "null" {
		return nil
	}
	return js
}

// decodeDocument decodes one JSON document into pods; nil means empty.
func decodeDocument(doc []byte) ([]*v1.Pod, error) {
	if doc == nil {
		return nil, nil
	}
	if bytes.TrimSpace(doc)[0] != '{' {
		return nil, fmt.Errorf("expected an object with apiVersion and kind, got %s", truncate(doc))
	}
	var tm typeMeta
	if err := json.Unmarshal(doc, &tm); err != nil {
		return nil, fmt.Errorf("reading apiVersion and kind: %w", err)
	}
	switch {
	case tm.Kind == "":
		//lint:ignore ST1005 the API machinery's exact wording
		return nil, errors.New("Object 'Kind' is missing")
	case tm.APIVersion == "":
		//lint:ignore ST1005 the API machinery's exact wording
		return nil, errors.New("Object 'apiVersion' is missing")
	case tm.APIVersion != "v1":
		return nil, fmt.Errorf("no matches for kind %q in version %q: only v1 Pod, List and PodList are supported", tm.Kind, tm.APIVersion)
	}
	switch tm.Kind {
	case "Pod":
		pod, err := decodePod(doc, "")
		if err != nil {
			return nil, err
		}
		return []*v1.Pod{pod}, nil
	case "List", "PodList":
		return decodeList(doc)
	default:
		return nil, fmt.Errorf("unsupported kind %q in version \"v1\": only Pod, List and PodList are supported", tm.Kind)
	}
}

func decodeList(doc []byte) ([]*v1.Pod, error) {
	var list podList
	if err := strictUnmarshal(doc, &list, ""); err != nil {
		return nil, err
	}
	var pods []*v1.Pod
	for i, item := range list.Items {
		prefix := fmt.Sprintf("items[%d]", i)
		if emptyToNil(item) == nil {
			continue
		}
		var tm typeMeta
		if err := json.Unmarshal(item, &tm); err != nil {
			return nil, fmt.Errorf("%s: %w", prefix, err)
		}
		if tm.APIVersion != "v1" || tm.Kind != "Pod" {
			return nil, fmt.Errorf("%s: unsupported kind %q in version %q: a List may only hold v1 Pods", prefix, tm.Kind, tm.APIVersion)
		}
		pod, err := decodePod(item, prefix)
		if err != nil {
			return nil, err
		}
		pods = append(pods, pod)
	}
	return pods, nil
}

func decodePod(doc []byte, prefix string) (*v1.Pod, error) {
	pod := &v1.Pod{}
	if err := strictUnmarshal(doc, pod, prefix); err != nil {
		return nil, err
	}
	return pod, nil
}

// strictUnmarshal decodes with unknown and duplicate fields as errors; the
// paths in those errors get prefix (e.g. "items[2]") prepended.
func strictUnmarshal(doc []byte, into any, prefix string) error {
	strictErrs, err := kjson.UnmarshalStrict(doc, into)
	if err != nil {
		if prefix != "" {
			return fmt.Errorf("%s: %w", prefix, err)
		}
		return err
	}
	if len(strictErrs) == 0 {
		return nil
	}
	msgs := make([]string, len(strictErrs))
	for i, e := range strictErrs {
		msgs[i] = addPrefix(e.Error(), prefix)
	}
	return fmt.Errorf("strict decoding error: %s", strings.Join(msgs, ", "))
}

// addPrefix turns `unknown field "spec.x"` into `unknown field "items[0].spec.x"`.
func addPrefix(msg, prefix string) string {
	if prefix == "" {
		return msg
	}
	i := strings.IndexByte(msg, '"')
	if i < 0 {
		return prefix + ": " + msg
	}
	return msg[:i+1] + prefix + "." + msg[i+1:]
}

func truncate(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return s
}
