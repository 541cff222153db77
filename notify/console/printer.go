package console

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/notify"
	"github.com/rootwatch/rootwatch/notify/jsonl"
)

// Formats a Printer writes.
const (
	// FormatText is Render's blocks for people.
	FormatText = "text"
	// FormatJSON is one JSON object per line, written by jsonl.Encode
	// (the same bytes as the service's stdout audit sink).
	FormatJSON = "json"
)

// Formats lists the formats a Printer writes, for flag help and checks.
var Formats = []string{FormatText, FormatJSON}

// CheckFormat reports whether a Printer writes format f.
func CheckFormat(f string) error {
	if !slices.Contains(Formats, f) {
		return fmt.Errorf("invalid value %q (want %s)", f, strings.Join(Formats, " or "))
	}
	return nil
}

// Printer writes detections to w, one whole block or line at a time. It is
// safe for concurrent use.
type Printer struct {
	mu     sync.Mutex
	w      io.Writer
	format string
	color  bool
}

// NewPrinter returns a Printer of format (FormatText or FormatJSON); color
// colours the level of text blocks.
func NewPrinter(w io.Writer, format string, color bool) *Printer {
	return &Printer{w: w, format: format, color: color}
}

// Print writes d. Write errors are ignored, as fmt.Print does: the
// output is a terminal or a pipe.
func (p *Printer) Print(d *detector.Detection) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.format == FormatJSON {
		_ = jsonl.Encode(p.w, d)
		return
	}
	_, _ = io.WriteString(p.w, Render(notify.ViewOf(d, ""), p.color))
}

// Deliver prints detections, so that a Printer can stand where the
// service's Dispatcher stands (backfill and scan of S3 without --alert).
func (p *Printer) Deliver(_ context.Context, ds []detector.Detection) error {
	for i := range ds {
		p.Print(&ds[i])
	}
	return nil
}
