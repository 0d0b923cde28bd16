package agent

import (
	"bytes"
	"errors"
	"testing"
)

func TestLimitWriter(t *testing.T) {
	var buf bytes.Buffer
	w := &limitWriter{w: &buf, left: 5}
	if n, err := w.Write([]byte("abc")); n != 3 || err != nil {
		t.Errorf("first write: %d %v", n, err)
	}
	if n, err := w.Write([]byte("defg")); n != 2 || !errors.Is(err, errLogLimit) {
		t.Errorf("write over the limit: %d %v", n, err)
	}
	if n, err := w.Write([]byte("h")); n != 0 || !errors.Is(err, errLogLimit) {
		t.Errorf("write after the limit: %d %v", n, err)
	}
	if buf.String() != "abcde" {
		t.Errorf("written %q", buf.String())
	}
}
