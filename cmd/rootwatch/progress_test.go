package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestProgress: the progress line shows the fraction done and an ETA, is
// rewritten in place, cleared at the end, and absent when off (not a
// terminal).
func TestProgress(t *testing.T) {
	var b bytes.Buffer
	p := newProgress(&b)
	if p.on {
		t.Fatal("a buffer is not a terminal")
	}
	p.update(0.5, "x")
	p.done()
	if b.Len() != 0 {
		t.Errorf("output when not a terminal: %q", b.String())
	}
	p.on = true
	p.began = p.began.Add(-10e9) // 10 s ago
	p.update(0.5, "3 page(s)")
	p.update(0.6, "too soon: not shown")
	p.update(1, "7 page(s)")
	p.done()
	out := b.String()
	for _, want := range []string{"\r\x1b[K 50% 3 page(s), ETA 10s", "\r\x1b[K100% 7 page(s)", "\r\x1b[K"} {
		if !strings.Contains(out, want) {
			t.Errorf("output %q lacks %q", out, want)
		}
	}
	if strings.Contains(out, "too soon") || strings.Contains(out, "\n") {
		t.Errorf("output %q", out)
	}
}
