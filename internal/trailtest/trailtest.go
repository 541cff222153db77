// Package trailtest builds CloudTrail log fixtures for tests: records from
// the templates in its testdata folder and gzipped log objects, as a trail
// writes them to S3.
//
// Templates: "root_api_call" (a root s3:ListBuckets whose userAgent tries
// to break out of its string; it fires exactly root-api-call) and
// "benign_call" (fires nothing). EVENT_ID and EVENT_TIME in a template are
// replaced.
//
// It is a helper for tests only; no service code imports it.
package trailtest

import (
	"bytes"
	"compress/gzip"
	"embed"
	"strings"
	"testing"
	"time"

	"github.com/rootwatch/rootwatch/detector/engine"
	"github.com/rootwatch/rootwatch/detector/rules"
)

//go:embed testdata/*.json
var templates embed.FS

// Template returns the raw text of a template (EVENT_ID and EVENT_TIME
// not replaced), trimmed. It panics on an unknown name.
func Template(name string) string {
	b, err := templates.ReadFile("testdata/" + name + ".json")
	if err != nil {
		panic("trailtest: " + err.Error())
	}
	return strings.TrimSpace(string(b))
}

// Record returns one record of template with the given eventID and
// eventTime (RFC 3339, UTC).
func Record(template, eventID string, eventTime time.Time) string {
	return strings.NewReplacer("EVENT_ID", eventID, "EVENT_TIME", eventTime.UTC().Format(time.RFC3339)).
		Replace(Template(template))
}

// LogObject returns a gzipped {"Records":[...]} log object holding records.
func LogObject(records ...string) []byte {
	return Gzip([]byte(`{"Records":[` + strings.Join(records, ",") + `]}`))
}

// Gzip returns b gzipped.
func Gzip(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(b) // a bytes.Buffer does not fail
	_ = zw.Close()
	return buf.Bytes()
}

// BuiltinEngine returns the built-in rules compiled, for tests that run
// records through the rules as the service does.
func BuiltinEngine(t testing.TB) *engine.Engine {
	t.Helper()
	rs, err := rules.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(rs)
	if err != nil {
		t.Fatal(err)
	}
	return eng
}
