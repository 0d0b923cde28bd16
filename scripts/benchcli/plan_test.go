package main

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseCommand(t *testing.T) {
	tests := []struct {
		in      string
		want    [][]string
		wantErr string
	}{
		{in: "a b c", want: [][]string{{"a", "b", "c"}}},
		{in: " a  b && c\td ", want: [][]string{{"a", "b"}, {"c", "d"}}},
		{in: "a&&b", want: [][]string{{"a&&b"}}}, // && is a word of its own
		{in: "", wantErr: "empty program at the end"},
		{in: "a &&", wantErr: "empty program at the end"},
		{in: "&& a", wantErr: "empty program before &&"},
		{in: "a && && b", wantErr: "empty program before &&"},
	}
	for _, tt := range tests {
		got, err := parseCommand(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseCommand(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseCommand(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestParsePlan(t *testing.T) {
	p, err := parsePlan([]string{"a=x 1 && y", "b=z {i}"}, []string{"b=rm {i}"}, "b")
	if err != nil {
		t.Fatal(err)
	}
	want := plan{cases: []benchCase{
		{name: "a", steps: [][]string{{"x", "1"}, {"y"}}},
		{name: "b", steps: [][]string{{"z", "{i}"}}, cleanup: [][]string{{"rm", "{i}"}}},
	}, baseline: 1}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("parsePlan = %+v, want %+v", p, want)
	}
	bad := []struct {
		cases, cleanups []string
		baseline, want  string
	}{
		{nil, nil, "", "at least one"},
		{[]string{"noequals"}, nil, "", "want NAME=COMMAND"},
		{[]string{"two words=x"}, nil, "", "one-word NAME"},
		{[]string{"=x"}, nil, "", "want NAME=COMMAND"},
		{[]string{"a=x", "a=y"}, nil, "", "used twice"},
		{[]string{"a="}, nil, "", `--case "a": "": empty program`},
		{[]string{"a=x"}, []string{"b=y"}, "", `--cleanup "b": no --case`},
		{[]string{"a=x"}, []string{"a=y", "a=z"}, "", "given twice"},
		{[]string{"a=x"}, nil, "c", `--baseline "c"`},
	}
	for _, tt := range bad {
		_, err := parsePlan(tt.cases, tt.cleanups, tt.baseline)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parsePlan(%q, %q, %q) error = %v, want %q", tt.cases, tt.cleanups, tt.baseline, err, tt.want)
		}
	}
}

func TestExpand(t *testing.T) {
	in := [][]string{{"x", "pod/b-{i}"}, {"{i}{i}"}}
	got := expand(in, 7)
	want := [][]string{{"x", "pod/b-7"}, {"77"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("expand = %q, want %q", got, want)
	}
	if in[0][1] != "pod/b-{i}" {
		t.Errorf("expand changed its input: %q", in)
	}
}

func TestRoundOrder(t *testing.T) {
	tests := []struct {
		n, r int
		want []int
	}{
		{1, 5, []int{0}},
		{3, 0, []int{0, 1, 2}},
		{3, 1, []int{1, 2, 0}},
		{3, 2, []int{2, 0, 1}},
		{3, 3, []int{0, 1, 2}},
	}
	for _, tt := range tests {
		if got := roundOrder(tt.n, tt.r); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("roundOrder(%d, %d) = %v, want %v", tt.n, tt.r, got, tt.want)
		}
	}
}
