package fields

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"sort"
	"testing"
)

// fuzzPaths are the fixed paths checked on every fuzz input: CloudTrail
// fields, prefixes of each other, duplicates, and keys that only match
// through escapes or replacement characters.
var fuzzPaths = [][]string{
	{"eventVersion"}, // with eventName and eventSource: tells CloudTrail from other JSON
	{"eventName"},
	{"eventSource"},
	{"userIdentity", "type"},
	{"userIdentity", "arn"},
	{"userIdentity"},
	{"userIdentity", "sessionContext", "attributes", "mfaAuthenticated"},
	{"userIdentity", "accessKeyId"},                   // credential kind (AKIA / ASIA)
	{"userIdentity", "sessionContext", "assumedRoot"}, // an sts:AssumeRoot session
	{"sessionCredentialFromConsole"},                  // a console session
	{"requestParameters", "taskPolicyArn", "arn"},     // AssumeRoot attribution
	{"responseElements", "credentials", "accessKeyId"},
	{"additionalEventData", "MFAUsed"},
	{"responseElements", "ConsoleLogin"},
	{"resources", "ARN"},
	{"a"},
	{"a", "b"},
	{"a", "b", "c"},
	{"a", "b"},
	{""},
	{"", ""},
	{"\ufffd"},
	{"é"},
	{"\xff"},
	{"a\"b"},
	{"A"},
}

// stdlibValue is what encoding/json says is at path in m: the expected
// Kind and Rest, and the Go value there (nil for absent).
func stdlibValue(m map[string]any, path []string) (Kind, int, any) {
	var cur any = m
	for d, key := range path {
		switch v := cur.(type) {
		case map[string]any:
			next, ok := v[key]
			if !ok {
				return KindAbsent, 0, nil
			}
			cur = next
		case []any:
			return KindArray, len(path) - d, v
		default:
			return KindAbsent, 0, nil
		}
	}
	switch cur.(type) {
	case nil:
		return KindNull, 0, nil
	case string:
		return KindString, 0, cur
	case json.Number:
		return KindNumber, 0, cur
	case bool:
		return KindBool, 0, cur
	case map[string]any:
		return KindObject, 0, cur
	case []any:
		return KindArray, 0, cur
	}
	panic("unexpected type from encoding/json")
}

func decodeNumbers(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}

// checkAgainstStdlib extracts paths from rec and compares the outcome with
// encoding/json: validity with json.Valid, each value with a walk of the
// decoded map.
func checkAgainstStdlib(t *testing.T, paths [][]string, rec []byte) {
	t.Helper()
	p, err := Compile(paths)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	got, err := p.NewExtractor().Extract(rec)
	trimmed := bytes.TrimLeft(rec, " \t\r\n")
	valid := json.Valid(rec) && len(trimmed) > 0 && trimmed[0] == '{'
	if valid != (err == nil) {
		t.Fatalf("Extract(%q): err = %v, but json.Valid and object = %v", rec, err, valid)
	}
	if err != nil {
		var se *SyntaxError
		if !errors.As(err, &se) || se.Offset < 0 || se.Offset > int64(len(rec)) {
			t.Fatalf("Extract(%q): error %v is not a SyntaxError with an offset inside the input", rec, err)
		}
		return
	}
	if len(got) != len(paths) {
		t.Fatalf("Extract returned %d values for %d paths", len(got), len(paths))
	}
	v, err := decodeNumbers(rec)
	if err != nil {
		t.Fatalf("encoding/json rejects %q that json.Valid accepts: %v", rec, err)
	}
	m := v.(map[string]any)
	for i, path := range paths {
		kind, rest, want := stdlibValue(m, path)
		g := got[i]
		if g.Kind != kind || g.Rest != rest {
			t.Fatalf("path %q in %q: got kind %v rest %d (%q), want kind %v rest %d", path, rec, g.Kind, g.Rest, g.B, kind, rest)
		}
		switch kind {
		case KindAbsent, KindNull:
			if g.B != nil {
				t.Fatalf("path %q in %q: %v value has B %q", path, rec, kind, g.B)
			}
		case KindString:
			if string(g.B) != want.(string) {
				t.Fatalf("path %q in %q: got string %q, want %q", path, rec, g.B, want)
			}
		case KindNumber:
			if string(g.B) != string(want.(json.Number)) {
				t.Fatalf("path %q in %q: got number %q, want %q", path, rec, g.B, want)
			}
		case KindBool:
			if want.(bool) != (string(g.B) == "true") || (string(g.B) != "true" && string(g.B) != "false") {
				t.Fatalf("path %q in %q: got bool %q, want %v", path, rec, g.B, want)
			}
		case KindObject, KindArray:
			gv, err := decodeNumbers(g.B)
			if err != nil {
				t.Fatalf("path %q in %q: raw %v %q does not decode: %v", path, rec, kind, g.B, err)
			}
			if !reflect.DeepEqual(gv, want) {
				t.Fatalf("path %q in %q: raw %v %q decodes to %#v, want %#v", path, rec, kind, g.B, gv, want)
			}
		}
	}
}

// derivedPaths returns up to limit paths made of keys that occur in m,
// down to a few levels, so that the fuzzer also exercises keys it invents.
func derivedPaths(m map[string]any, limit int) [][]string {
	var out [][]string
	var walk func(v any, prefix []string)
	walk = func(v any, prefix []string) {
		if len(out) >= limit || len(prefix) >= 4 {
			return
		}
		switch v := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				p := append(append([]string(nil), prefix...), k)
				out = append(out, p, append(append([]string(nil), p...), "x"))
				walk(v[k], p)
				if len(out) >= limit {
					return
				}
			}
		case []any:
			for _, e := range v {
				walk(e, prefix)
			}
		}
	}
	walk(m, nil)
	return out
}

func FuzzExtract(f *testing.F) {
	for _, s := range []string{
		`{}`,
		`{"eventName":"ConsoleLogin","userIdentity":{"type":"Root","arn":"arn:aws:iam::1:root"}}`,
		`{"a":{"b":1},"a":{"c":2}}`,
		`{"a":[{"b":{"c":1}}],"\u0061":{"b":"x\"}\\"}}`,
		`{"\ud83d\ude00":"\ud800\u0041","é":"\xff\xfe"}`,
		`[1]`,
		`{"a":1}x`,
		`{"eventVersion":1.08,"eventName":null,"eventSource":["x"],"EventName":"y"}`,
		`{"Events":[{"EventName":"x","CloudTrailEvent":"{\"eventVersion\":\"1.09\"}"}],"NextToken":"t"}`,
		`{"awsAccountId":"1","digestStartTime":"a","digestEndTime":"b","logFiles":[{"s3Object":"k"}]}`,
		`{"eventName":"DescribeInstances","userIdentity":{"type":"Root","accessKeyId":"AKIAY34FZKBOROOTKEY1"},"sessionCredentialFromConsole":"true"}`,
		`{"eventName":"AssumeRoot","userIdentity":{"type":"AssumedRole","sessionContext":{"assumedRoot":"true"}},"requestParameters":{"taskPolicyArn":{"arn":"arn:aws:iam::aws:policy/root-task/S3UnlockBucketPolicy"}},"responseElements":{"credentials":{"accessKeyId":"ASIA\u0059X"}}}`,
		`{"userIdentity":{"sessionContext":{"assumedRoot":true,"assumedRoot":["true"]}},"responseElements":{"credentials":null}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, rec []byte) {
		checkAgainstStdlib(t, fuzzPaths, rec)
		if !json.Valid(rec) {
			return
		}
		v, err := decodeNumbers(rec)
		if err != nil {
			return
		}
		if m, ok := v.(map[string]any); ok {
			if paths := derivedPaths(m, 24); len(paths) > 0 {
				checkAgainstStdlib(t, paths, rec)
			}
		}
	})
}

// FuzzExtractPath lets the fuzzer choose the keys of the paths too, so that
// it can find keys that match only after unescaping or replacement.
func FuzzExtractPath(f *testing.F) {
	f.Add([]byte(`{"a":{"b":"c"}}`), "a", "b")
	f.Add([]byte(`{"\u0061":[{"\u0062":1}]}`), "a", "b")
	f.Add([]byte("{\"\xff\":{\"\\ud800\":2}}"), "\ufffd", "\ufffd")
	f.Add([]byte(`{"":{"":null},"":{"x":true}}`), "", "x")
	f.Fuzz(func(t *testing.T, rec []byte, a, b string) {
		checkAgainstStdlib(t, [][]string{{a}, {a, b}, {b}, {a, b, a}, {b, a}}, rec)
	})
}
