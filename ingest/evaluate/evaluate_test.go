package evaluate_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/detector/engine"
	"github.com/rootwatch/rootwatch/ingest/cloudtrail"
	"github.com/rootwatch/rootwatch/ingest/evaluate"
	"github.com/rootwatch/rootwatch/internal/trailtest"
)

func builtin(t *testing.T) *engine.Engine {
	t.Helper()
	eng := trailtest.BuiltinEngine(t)
	return eng
}

var at = time.Date(2026, 11, 20, 9, 7, 12, 0, time.UTC)

func root(id string) string   { return trailtest.Record("root_api_call", id, at) }
func benign(id string) string { return trailtest.Record("benign_call", id, at) }

// notCloudTrail is a JSON object that is no CloudTrail record.
const notCloudTrail = `{"event":{"eventName":"x"}}`

// malformed is a record the engine cannot evaluate.
const malformed = `{"eventName":"x","userIdentity":{"type":tru}}`

// TestRead: the accounting, the error and the delivered detections of one
// stream, for every way a stream ends.
func TestRead(t *testing.T) {
	eng := builtin(t)
	tests := []struct {
		name      string
		in        []byte
		batch     int
		failAfter int // Deliver fails on this call (1-based); 0: never
		want      evaluate.Stats
		wantErr   error // errors.Is; nil: no error
		wantIDs   []string
		wantCalls []int // detections per Deliver call
		invalidAt []int64
	}{
		{
			name: "log object", in: trailtest.LogObject(benign("b1"), root("r1"), benign("b2"), root("r2")),
			want:    evaluate.Stats{Records: 4, Detections: 2},
			wantIDs: []string{"r1", "r2"}, wantCalls: []int{1, 1},
		},
		{
			name: "batched", in: trailtest.LogObject(root("r1"), root("r2"), root("r3"), benign("b1"), root("r4"), root("r5")), batch: 2,
			want:    evaluate.Stats{Records: 6, Detections: 5},
			wantIDs: []string{"r1", "r2", "r3", "r4", "r5"}, wantCalls: []int{2, 2, 1},
		},
		{
			name: "JSON lines, plain", in: []byte(root("r1") + "\n" + benign("b1") + "\n"),
			want:    evaluate.Stats{Records: 2, Detections: 1},
			wantIDs: []string{"r1"}, wantCalls: []int{1},
		},
		{
			name: "empty input", in: []byte("  \n"),
			want: evaluate.Stats{},
		},
		{
			name: "invalid records are counted, the rest evaluated",
			in:   []byte(root("r1") + "\n" + malformed + "\n" + notCloudTrail + "\n" + root("r3") + "\n"),
			want: evaluate.Stats{Records: 2, Detections: 2, Invalid: 2, NotCloudTrail: 1}, wantErr: evaluate.ErrInvalidRecords,
			wantIDs: []string{"r1", "r3"}, wantCalls: []int{1, 1},
			invalidAt: []int64{int64(len(root("r1")) + 1), int64(len(root("r1")) + 1 + len(malformed) + 1)},
		},
		{
			name: "truncated object: what was read is delivered", in: trailtest.Gzip([]byte(`{"Records":[` + root("r1") + `,` + root("r2")[:100])),
			want: evaluate.Stats{Records: 1, Detections: 1}, wantErr: cloudtrail.ErrTruncated,
			wantIDs: []string{"r1"}, wantCalls: []int{1},
		},
		{
			name: "digest file", in: []byte(`{"awsAccountId":"111122223333","digestStartTime":"a","digestEndTime":"b","logFiles":[]}`),
			wantErr: cloudtrail.ErrDigestFile,
		},
		{
			name: "delivery failure stops reading", in: trailtest.LogObject(root("r1"), root("r2"), root("r3"), root("r4")), batch: 2, failAfter: 1,
			want: evaluate.Stats{Records: 2}, wantErr: evaluate.ErrDelivery,
			wantCalls: []int{2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var (
				ids       []string
				calls     []int
				invalidAt []int64
			)
			errSink := errors.New("sink down")
			st, err := evaluate.Read(context.Background(), bytes.NewReader(tt.in), evaluate.Config{
				Matcher: eng,
				Decoder: cloudtrail.Options{Source: "test"},
				Batch:   tt.batch,
				Deliver: func(_ context.Context, ds []detector.Detection) error {
					calls = append(calls, len(ds))
					if len(calls) == tt.failAfter {
						return errSink
					}
					for _, d := range ds {
						if d.Source != "test" {
							t.Errorf("detection source %q, want test", d.Source)
						}
						ids = append(ids, d.EventID)
					}
					return nil
				},
				Invalid: func(offset int64, err error) { invalidAt = append(invalidAt, offset) },
			})
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("error %v, want none", err)
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if tt.failAfter > 0 && !errors.Is(err, errSink) {
				t.Errorf("error %v does not wrap the sink's", err)
			}
			st.Bytes = 0 // checked below
			if st != tt.want {
				t.Errorf("stats %+v, want %+v", st, tt.want)
			}
			if !slices.Equal(ids, tt.wantIDs) || !slices.Equal(calls, tt.wantCalls) {
				t.Errorf("delivered %v in calls %v, want %v in %v", ids, calls, tt.wantIDs, tt.wantCalls)
			}
			if !slices.Equal(invalidAt, tt.invalidAt) {
				t.Errorf("invalid records at %v, want %v", invalidAt, tt.invalidAt)
			}
		})
	}
}

// TestReadBytes: Bytes counts the decompressed bytes consumed.
func TestReadBytes(t *testing.T) {
	plain := `{"Records":[` + root("r1") + `]}`
	st, err := evaluate.Read(context.Background(), bytes.NewReader(trailtest.Gzip([]byte(plain))), evaluate.Config{
		Matcher: builtin(t), Deliver: func(context.Context, []detector.Detection) error { return nil },
	})
	if err != nil || st.Bytes != int64(len(plain)) {
		t.Fatalf("Bytes %d, err %v; want %d, nil", st.Bytes, err, len(plain))
	}
}

// plainMatcher hides the engine's MatchEventTime.
type plainMatcher struct{ m evaluate.Matcher }

func (p plainMatcher) Match(rec []byte, source string, dst []detector.Detection) ([]detector.Detection, error) {
	return p.m.Match(rec, source, dst)
}

// TestReadEventTime: EventTime receives every evaluated record's eventTime,
// from the engine's own pass or, for a Matcher without MatchEventTime,
// from a second read of the record.
func TestReadEventTime(t *testing.T) {
	eng := builtin(t)
	times := []time.Time{at, at.Add(time.Hour), at.Add(-time.Hour)}
	var recs []string
	for i, tm := range times {
		recs = append(recs, trailtest.Record("benign_call", string(rune('a'+i)), tm))
	}
	recs = append(recs, malformed) // refused: no event time
	in := []byte(strings.Join(recs, "\n"))
	for _, m := range []struct {
		name string
		m    evaluate.Matcher
	}{{"engine", eng}, {"plain matcher", plainMatcher{eng}}} {
		t.Run(m.name, func(t *testing.T) {
			var got []string
			_, err := evaluate.Read(context.Background(), bytes.NewReader(in), evaluate.Config{
				Matcher:   m.m,
				Deliver:   func(context.Context, []detector.Detection) error { return nil },
				EventTime: func(b []byte) { got = append(got, string(b)) },
			})
			if !errors.Is(err, evaluate.ErrInvalidRecords) {
				t.Fatalf("error %v, want ErrInvalidRecords", err)
			}
			var want []string
			for _, tm := range times {
				want = append(want, tm.Format(time.RFC3339))
			}
			if !slices.Equal(got, want) {
				t.Fatalf("event times %v, want %v", got, want)
			}
		})
	}
}

// blockingReader returns its data, then blocks until it is closed, as a
// stalled network read does.
type blockingReader struct {
	data   []byte
	closed chan struct{}
}

func (b *blockingReader) Read(p []byte) (int, error) {
	if len(b.data) > 0 {
		n := copy(p, b.data)
		b.data = b.data[n:]
		return n, nil
	}
	<-b.closed
	return 0, errors.New("read on closed body")
}

func (b *blockingReader) Close() error { close(b.closed); return nil }

// TestReadClosesStalledStream: a delivery failure while the decoder's
// read-ahead is blocked in a read returns (the Closer aborts the read)
// rather than hanging; and a cancelled context stops the reading.
func TestReadClosesStalledStream(t *testing.T) {
	eng := builtin(t)
	// Enough records that the first ones are decoded (and their delivery
	// fails) while the read-ahead goroutine is still reading, then blocked.
	recs := make([]string, 3000)
	for i := range recs {
		recs[i] = root(fmt.Sprint("r", i))
	}
	body := &blockingReader{data: trailtest.LogObject(recs...), closed: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		_, err := evaluate.Read(context.Background(), body, evaluate.Config{
			Matcher: eng, Closer: body,
			Deliver: func(context.Context, []detector.Detection) error { return io.ErrClosedPipe },
		})
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, evaluate.ErrDelivery) || !errors.Is(err, io.ErrClosedPipe) {
			t.Fatalf("error %v, want the delivery failure", err)
		}
	case <-time.After(time.Minute): // generous: a hang, not a slow machine
		t.Fatal("Read did not return with its reader blocked")
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	st, err := evaluate.Read(ctx, bytes.NewReader([]byte(root("r1"))), evaluate.Config{
		Matcher: eng, Deliver: func(context.Context, []detector.Detection) error { return nil },
	})
	if !errors.Is(err, context.Canceled) || st.Records != 0 {
		t.Fatalf("cancelled: %d records, error %v; want 0, context.Canceled", st.Records, err)
	}
}
