package jsonl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/notify"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

func yes() *bool { b := true; return &b }

func fixtures() []detector.Detection {
	return []detector.Detection{
		{
			Rule: "root-console-login", RuleID: "4f5b6c3e-0000-4000-8000-000000000001",
			Level: detector.LevelHigh, Title: "Root console sign-in",
			EventID: "ev-1", EventName: "ConsoleLogin", EventSource: "signin.amazonaws.com",
			EventType: "AwsConsoleSignIn", EventTime: time.Date(2026, 11, 26, 19, 0, 0, 0, time.UTC),
			AccountID: "111122223333", Region: "us-east-1", SourceIP: "203.0.113.7",
			UserAgent: `<!channel> <https://evil|AWS> "quoted" & more`, Principal: "arn:aws:iam::111122223333:root",
			IdentityType: "Root", MFAUsed: yes(), Outcome: "Success", Source: "s3://bucket/AWSLogs/x.json.gz",
			Record: json.RawMessage(`{"eventID":"ev-1"}`),
		},
		{
			Rule: "root-api-call", Level: detector.LevelMedium, Title: "Root API call",
			EventID: "ev-2", EventName: "DeleteTrail", EventSource: "cloudtrail.amazonaws.com",
			AccountID: "111122223333", Region: "eu-west-1", SourceIP: "198.51.100.1",
			UserAgent: "aws-cli/2\u2028line", Principal: "Root", ErrorCode: "AccessDenied",
			ErrorMessage: "not \"allowed\"\n", AccessKeyID: "ASIAEXAMPLE", Source: "-",
		},
	}
}

func TestEncodeGolden(t *testing.T) {
	var buf bytes.Buffer
	for _, d := range fixtures() {
		if err := Encode(&buf, &d); err != nil {
			t.Fatal(err)
		}
	}
	golden := filepath.Join("testdata", "detections.jsonl")
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("Encode output differs from %s (run with -update):\n%s", golden, buf.Bytes())
	}
	// Each line round-trips to the same Detection (Record excepted).
	dec := json.NewDecoder(bytes.NewReader(buf.Bytes()))
	for i, d := range fixtures() {
		var got detector.Detection
		if err := dec.Decode(&got); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		d.Record = nil
		a, _ := json.Marshal(d)
		b, _ := json.Marshal(got)
		if !bytes.Equal(a, b) {
			t.Errorf("line %d round trip:\n got %s\nwant %s", i+1, b, a)
		}
	}
}

// writeRecorder records every Write call separately.
type writeRecorder struct {
	mu     sync.Mutex
	writes [][]byte
	err    error
}

func (w *writeRecorder) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return 0, w.err
	}
	w.writes = append(w.writes, bytes.Clone(p))
	return len(p), nil
}

func TestSinkOneWritePerLineConcurrent(t *testing.T) {
	w := &writeRecorder{}
	s := New(w)
	if s.Name() != "stdout" {
		t.Fatalf("Name = %q", s.Name())
	}
	const n = 64
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := fixtures()[i%2]
			d.EventID = "ev-" + strconv.Itoa(i)
			if err := s.Send(context.Background(), &notify.Alert{Detection: d}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if len(w.writes) != n {
		t.Fatalf("%d writes, want %d", len(w.writes), n)
	}
	seen := map[string]bool{}
	for _, line := range w.writes {
		if bytes.Count(line, []byte("\n")) != 1 || line[len(line)-1] != '\n' {
			t.Fatalf("write is not exactly one line: %q", line)
		}
		var d detector.Detection
		if err := json.Unmarshal(line, &d); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		seen[d.EventID] = true
	}
	if len(seen) != n {
		t.Errorf("%d distinct detections, want %d", len(seen), n)
	}
}

func TestSinkErrors(t *testing.T) {
	boom := errors.New("broken pipe")
	tests := []struct {
		name      string
		w         *writeRecorder
		ctx       func() context.Context
		wantIs    error
		permanent bool
	}{
		{"write error is retryable", &writeRecorder{err: boom}, context.Background, boom, false},
		{"canceled context", &writeRecorder{}, func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		}, context.Canceled, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := New(tt.w).Send(tt.ctx(), &notify.Alert{Detection: fixtures()[0]})
			if !errors.Is(err, tt.wantIs) {
				t.Fatalf("Send = %v, want %v", err, tt.wantIs)
			}
			if notify.IsPermanent(err) != tt.permanent {
				t.Errorf("IsPermanent = %v, want %v", notify.IsPermanent(err), tt.permanent)
			}
			if len(tt.w.writes) != 0 {
				t.Errorf("%d writes after an error", len(tt.w.writes))
			}
		})
	}
}
