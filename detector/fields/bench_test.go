package fields

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"runtime"
	"testing"

	"github.com/valyala/fastjson"
)

// benchPaths are the fields the built-in rules read from a CloudTrail record.
var benchPaths = [][]string{
	{"eventName"},
	{"eventSource"},
	{"eventType"},
	{"eventID"},
	{"awsRegion"},
	{"sourceIPAddress"},
	{"recipientAccountId"},
	{"userIdentity", "type"},
	{"userIdentity", "invokedBy"},
	{"userIdentity", "arn"},
	{"errorCode"},
	{"additionalEventData", "MFAUsed"},
	{"responseElements", "ConsoleLogin"},
	{"requestParameters", "userName"},
}

// benchStruct is what encoding/json decodes benchPaths into.
type benchStruct struct {
	EventName          string `json:"eventName"`
	EventSource        string `json:"eventSource"`
	EventType          string `json:"eventType"`
	EventID            string `json:"eventID"`
	AWSRegion          string `json:"awsRegion"`
	SourceIPAddress    string `json:"sourceIPAddress"`
	RecipientAccountID string `json:"recipientAccountId"`
	UserIdentity       struct {
		Type      string `json:"type"`
		InvokedBy string `json:"invokedBy"`
		ARN       string `json:"arn"`
	} `json:"userIdentity"`
	ErrorCode           string `json:"errorCode"`
	AdditionalEventData struct {
		MFAUsed string `json:"MFAUsed"`
	} `json:"additionalEventData"`
	ResponseElements struct {
		ConsoleLogin string `json:"ConsoleLogin"`
	} `json:"responseElements"`
	RequestParameters struct {
		UserName string `json:"userName"`
	} `json:"requestParameters"`
}

// loadRecords reads testdata/cloudtrail.json (a CloudTrail log file from the
// shared generator) and returns its records and their total size.
func loadRecords(tb testing.TB) ([][]byte, int64) {
	tb.Helper()
	data, err := os.ReadFile("testdata/cloudtrail.json")
	if err != nil {
		tb.Fatalf("read records: %v", err)
	}
	var file struct {
		Records []json.RawMessage `json:"Records"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		tb.Fatalf("decode testdata/cloudtrail.json: %v", err)
	}
	recs := make([][]byte, len(file.Records))
	var n int64
	for i, r := range file.Records {
		recs[i] = bytes.Clone(r)
		n += int64(len(r))
	}
	if len(recs) == 0 {
		tb.Fatal("testdata/cloudtrail.json holds no records")
	}
	return recs, n
}

// TestBenchRecordsAgree checks, on the benchmark records, that Extract
// agrees with encoding/json and with fastjson, so that the benchmarks
// compare equal work.
func TestBenchRecordsAgree(t *testing.T) {
	recs, _ := loadRecords(t)
	p, err := Compile(benchPaths)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	x := p.NewExtractor()
	var fp fastjson.Parser
	for i, rec := range recs {
		checkAgainstStdlib(t, benchPaths, rec)
		vals, err := x.Extract(rec)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		v, err := fp.ParseBytes(rec)
		if err != nil {
			t.Fatalf("fastjson record %d: %v", i, err)
		}
		for j, path := range benchPaths {
			if got, want := string(vals[j].B), string(v.GetStringBytes(path...)); vals[j].Kind == KindString && got != want {
				t.Errorf("record %d path %q: Extract %q, fastjson %q", i, path, got, want)
			}
		}
	}
}

// benchRecords runs fn over every benchmark record per iteration. Besides
// the wall-clock MB/s it reports cpuMB/s, the throughput over the CPU time
// of the benchmark's own thread, which descheduling on a loaded machine does
// not distort (work done on other threads, such as background garbage
// collection, is not counted).
func benchRecords(b *testing.B, fn func(rec []byte) error) {
	recs, n := loadRecords(b)
	b.SetBytes(n)
	b.ReportAllocs()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	iters := 0
	cpu0, cpuOK := threadCPU()
	for b.Loop() {
		for _, rec := range recs {
			if err := fn(rec); err != nil {
				b.Fatal(err)
			}
		}
		iters++
	}
	if cpu1, ok := threadCPU(); ok && cpuOK && cpu1 > cpu0 {
		b.ReportMetric(float64(n)*float64(iters)/(cpu1-cpu0).Seconds()/1e6, "cpuMB/s")
	}
}

func BenchmarkExtract(b *testing.B) {
	p, err := Compile(benchPaths)
	if err != nil {
		b.Fatalf("Compile: %v", err)
	}
	x := p.NewExtractor()
	benchRecords(b, func(rec []byte) error {
		_, err := x.Extract(rec)
		return err
	})
}

func BenchmarkFastjsonParse(b *testing.B) {
	var fp fastjson.Parser
	benchRecords(b, func(rec []byte) error {
		v, err := fp.ParseBytes(rec)
		if err != nil {
			return err
		}
		for _, path := range benchPaths {
			_ = v.GetStringBytes(path...)
		}
		return nil
	})
}

func BenchmarkEncodingJSON(b *testing.B) {
	benchRecords(b, func(rec []byte) error {
		var s benchStruct
		return json.Unmarshal(rec, &s)
	})
}

// BenchmarkExtractNoPaths is the validation floor: the same single pass
// with nothing to extract, every value skipped.
func BenchmarkExtractNoPaths(b *testing.B) {
	p, err := Compile(nil)
	if err != nil {
		b.Fatalf("Compile: %v", err)
	}
	x := p.NewExtractor()
	benchRecords(b, func(rec []byte) error {
		_, err := x.Extract(rec)
		return err
	})
}

// BenchmarkJSONValid is encoding/json's validator on the same records, for
// comparison with BenchmarkExtractNoPaths.
func BenchmarkJSONValid(b *testing.B) {
	benchRecords(b, func(rec []byte) error {
		if !json.Valid(rec) {
			return errors.New("invalid record")
		}
		return nil
	})
}
