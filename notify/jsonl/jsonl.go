// Package jsonl is the audit sink: it writes every detection handed to
// delivery as one JSON object per line, in detector.Detection's JSON form
// (the same bytes `rootwatch scan --format json` prints: notify/console's
// Printer calls Encode). On ECS its output is the CloudWatch Logs audit
// trail of every detection. It writes the detection, not notify.View: the
// detection's JSON is rootwatch's public machine-readable contract.
package jsonl

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/notify"
)

// Name is the sink's name in routes, ledgers, logs and metrics.
const Name = "stdout"

// Encode writes d to w as one JSON object followed by a newline, with a
// single Write call so that concurrent writers to the same file descriptor
// (or a log collector reading it) never see interleaved lines. HTML
// characters are not escaped: the output is for machines and log search,
// and attacker-controlled strings stay JSON-escaped as required.
func Encode(w io.Writer, d *detector.Detection) error {
	var buf bytes.Buffer
	if err := encode(&buf, d); err != nil {
		return err
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("jsonl: write detection %s: %w", d.Key(), err)
	}
	return nil
}

func encode(buf *bytes.Buffer, d *detector.Detection) error {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(d); err != nil { // Encode appends the newline.
		return fmt.Errorf("jsonl: encode detection %s: %w", d.Key(), err)
	}
	return nil
}

// Sink writes alerts' detections to an io.Writer, one line each. It is safe
// for concurrent use.
type Sink struct {
	mu  sync.Mutex
	w   io.Writer
	buf bytes.Buffer
}

var _ notify.Sink = (*Sink)(nil)

// New returns a Sink writing to w (os.Stdout in the service).
func New(w io.Writer) *Sink { return &Sink{w: w} }

// Name returns "stdout".
func (s *Sink) Name() string { return Name }

// Send writes a's detection as one line. A test alert is written like any
// other; its detection names the test rule. Write errors are returned
// unclassified (retryable): the audit trail must not be skipped silently.
func (s *Sink) Send(ctx context.Context, a *notify.Alert) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("jsonl: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf.Reset()
	if err := encode(&s.buf, &a.Detection); err != nil {
		return notify.Permanent(err)
	}
	if _, err := s.w.Write(s.buf.Bytes()); err != nil {
		return fmt.Errorf("jsonl: write detection %s: %w", a.Key(), err)
	}
	return nil
}
