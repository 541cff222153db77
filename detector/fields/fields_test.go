package fields

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

func TestCompile(t *testing.T) {
	tests := []struct {
		name    string
		paths   [][]string
		wantLen int
		wantErr string
	}{
		{name: "none", paths: nil, wantLen: 0},
		{name: "one", paths: [][]string{{"eventName"}}, wantLen: 1},
		{name: "duplicates and prefixes", paths: [][]string{{"a"}, {"a", "b"}, {"a"}, {"a", "b", "c"}}, wantLen: 4},
		{name: "empty key is a key", paths: [][]string{{""}}, wantLen: 1},
		{name: "empty path", paths: [][]string{{"a"}, {}}, wantErr: "path 1: empty path"},
		{name: "many keys in one object", paths: manyKeys(maxKids), wantLen: maxKids},
		{name: "too many keys in one object", paths: manyKeys(maxKids + 1), wantErr: "32768 different keys below one object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Compile(tt.paths)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Compile error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			if p.Len() != tt.wantLen {
				t.Fatalf("Len = %d, want %d", p.Len(), tt.wantLen)
			}
		})
	}
}

// manyKeys returns n paths {"k", "<i>"}: n different keys in one object.
func manyKeys(n int) [][]string {
	paths := make([][]string, n)
	for i := range paths {
		paths[i] = []string{"k", strconv.Itoa(i)}
	}
	return paths
}

func TestExtractManyKeys(t *testing.T) {
	// Enough keys of equal length and equal first and last bytes to make
	// the hash table probe past collisions.
	paths := manyKeys(300)
	paths = append(paths, []string{"k", "1x1"}, []string{"k", "1y1"}, []string{"k"})
	var b strings.Builder
	b.WriteString(`{"k":{`)
	for i := 299; i >= 0; i-- {
		fmt.Fprintf(&b, `"%d":%d,`, i, i)
	}
	b.WriteString(`"1z1":0,"1y1":"y"}}`)
	checkAgainstStdlib(t, paths, []byte(b.String()))
}

func TestKindString(t *testing.T) {
	tests := []struct {
		k    Kind
		want string
	}{
		{KindAbsent, "absent"}, {KindNull, "null"}, {KindString, "string"}, {KindNumber, "number"},
		{KindBool, "bool"}, {KindObject, "object"}, {KindArray, "array"}, {Kind(42), "Kind(42)"},
	}
	for _, tt := range tests {
		if got := tt.k.String(); got != tt.want {
			t.Errorf("Kind(%d).String() = %q, want %q", uint8(tt.k), got, tt.want)
		}
	}
}

// want is an expected Value, written compactly.
type want struct {
	kind Kind
	b    string
	rest int
}

func TestExtract(t *testing.T) {
	tests := []struct {
		name  string
		paths [][]string
		rec   string
		want  []want
	}{
		{
			name:  "every kind",
			paths: [][]string{{"s"}, {"n"}, {"t"}, {"f"}, {"z"}, {"o"}, {"a"}, {"missing"}},
			rec:   `{"s":"str","n":-12.5e+3,"t":true,"f":false,"z":null,"o":{"k":[1,{}]},"a":[1,"x",null]}`,
			want: []want{
				{KindString, "str", 0}, {KindNumber, "-12.5e+3", 0}, {KindBool, "true", 0},
				{KindBool, "false", 0}, {KindNull, "", 0}, {KindObject, `{"k":[1,{}]}`, 0},
				{KindArray, `[1,"x",null]`, 0}, {KindAbsent, "", 0},
			},
		},
		{
			name: "cloudtrail nested paths",
			paths: [][]string{{"eventName"}, {"userIdentity", "type"}, {"userIdentity", "invokedBy"},
				{"additionalEventData", "MFAUsed"}, {"responseElements", "ConsoleLogin"}, {"errorCode"}},
			rec: `{"eventVersion":"1.08","userIdentity":{"type":"Root","principalId":"123","arn":"arn:aws:iam::123:root"},` +
				`"eventName":"ConsoleLogin","responseElements":{"ConsoleLogin":"Success"},` +
				`"additionalEventData":{"LoginTo":"https://console.aws.amazon.com/","MobileVersion":"No","MFAUsed":"No"}}`,
			want: []want{{KindString, "ConsoleLogin", 0}, {KindString, "Root", 0}, {}, {KindString, "No", 0},
				{KindString, "Success", 0}, {}},
		},
		{
			name:  "whitespace everywhere",
			paths: [][]string{{"a", "b"}, {"c"}},
			rec:   " \t\r\n{ \"a\" : { \"b\" : [ 1 , 2 ] } , \"c\" :\n\"d\" } \n",
			want:  []want{{KindArray, "[ 1 , 2 ]", 0}, {KindString, "d", 0}},
		},
		{
			name:  "string escapes",
			paths: [][]string{{"e"}, {"u"}, {"pair"}, {"lone"}, {"lone2"}, {"swapped"}},
			rec: `{"e":"q\"b\\s\/\b\f\n\r\t","u":"\u00e9\u0000A","pair":"\ud83d\ude00","lone":"\ud800x",` +
				`"lone2":"\udc00\u0041","swapped":"\ude00\ud83d"}`,
			want: []want{
				{KindString, "q\"b\\s/\b\f\n\r\t", 0}, {KindString, "é\x00A", 0}, {KindString, "😀", 0},
				{KindString, "\ufffdx", 0}, {KindString, "\ufffdA", 0}, {KindString, "\ufffd\ufffd", 0},
			},
		},
		{
			name:  "invalid utf-8 becomes replacement characters",
			paths: [][]string{{"x"}, {"y"}, {"ok"}},
			rec:   "{\"x\":\"a\xffb\",\"y\":\"\xed\xa0\x80\",\"ok\":\"\xef\xbf\xbd\"}",
			want:  []want{{KindString, "a\ufffdb", 0}, {KindString, "\ufffd\ufffd\ufffd", 0}, {KindString, "\ufffd", 0}},
		},
		{
			name:  "escaped keys match their unescaped form",
			paths: [][]string{{"eventName"}, {"a\"b"}, {"\ufffd"}},
			rec:   "{\"\\u0065ventName\":\"X\",\"a\\\"b\":1,\"\xff\":2}",
			want:  []want{{KindString, "X", 0}, {KindNumber, "1", 0}, {KindNumber, "2", 0}},
		},
		{
			name:  "keys are case-sensitive",
			paths: [][]string{{"EventName"}},
			rec:   `{"eventName":"X"}`,
			want:  []want{{}},
		},
		{
			name:  "invalid utf-8 path key never matches",
			paths: [][]string{{"\xff"}},
			rec:   "{\"\xff\":1}",
			want:  []want{{}},
		},
		{
			name:  "duplicate keys: last wins",
			paths: [][]string{{"a"}, {"a", "b"}, {"a", "c"}},
			rec:   `{"a":{"b":1,"b":2},"x":0,"a":{"c":3}}`,
			want:  []want{{KindObject, `{"c":3}`, 0}, {}, {KindNumber, "3", 0}},
		},
		{
			name:  "duplicate key replaced by scalar clears nested paths",
			paths: [][]string{{"a", "b"}, {"a"}},
			rec:   `{"a":{"b":1},"a":"s"}`,
			want:  []want{{}, {KindString, "s", 0}},
		},
		{
			name:  "prefix and duplicate paths",
			paths: [][]string{{"a"}, {"a", "b"}, {"a", "b"}, {"a", "b", "c"}},
			rec:   `{"a":{"b":{"c":"deep"}}}`,
			want: []want{{KindObject, `{"b":{"c":"deep"}}`, 0}, {KindObject, `{"c":"deep"}`, 0},
				{KindObject, `{"c":"deep"}`, 0}, {KindString, "deep", 0}},
		},
		{
			name:  "array before the last key sets Rest",
			paths: [][]string{{"resources", "ARN"}, {"resources"}, {"r", "s", "t", "u"}},
			rec:   `{"resources":[{"ARN":"x"},{"ARN":"y"}],"r":{"s":[{"t":{"u":1}}]}}`,
			want: []want{{KindArray, `[{"ARN":"x"},{"ARN":"y"}]`, 1}, {KindArray, `[{"ARN":"x"},{"ARN":"y"}]`, 0},
				{KindArray, `[{"t":{"u":1}}]`, 2}},
		},
		{
			name:  "path through a scalar or null is absent",
			paths: [][]string{{"s", "x"}, {"n", "x"}, {"z", "x"}, {"z"}},
			rec:   `{"s":"str","n":1,"z":null}`,
			want:  []want{{}, {}, {}, {KindNull, "", 0}},
		},
		{
			name:  "structural characters inside skipped and needed strings",
			paths: [][]string{{"k"}},
			rec:   `{"skip":"}]\"{[,:\\","k":"}\"\\{","o":{"x":"\"}"}}`,
			want:  []want{{KindString, `}"\{`, 0}},
		},
		{
			name:  "empty object",
			paths: [][]string{{"a"}},
			rec:   `{}`,
			want:  []want{{}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Compile(tt.paths)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			x := p.NewExtractor()
			// Extract twice so that state left by one call cannot leak
			// into the next.
			for range 2 {
				got, err := x.Extract([]byte(tt.rec))
				if err != nil {
					t.Fatalf("Extract: %v", err)
				}
				if len(got) != len(tt.want) {
					t.Fatalf("got %d values, want %d", len(got), len(tt.want))
				}
				for i, w := range tt.want {
					g := got[i]
					if g.Kind != w.kind || string(g.B) != w.b || g.Rest != w.rest {
						t.Errorf("path %q: got {%v %q %d}, want {%v %q %d}", tt.paths[i], g.Kind, g.B, g.Rest, w.kind, w.b, w.rest)
					}
				}
			}
			checkAgainstStdlib(t, tt.paths, []byte(tt.rec))
		})
	}
}

func TestExtractInvalid(t *testing.T) {
	deep := strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth)
	tests := []struct {
		name    string
		rec     string
		offset  int64
		wantMsg string
	}{
		{"empty", "", 0, "unexpected end"},
		{"only whitespace", " \n", 2, "unexpected end"},
		{"array at top", `[1]`, 0, "not a JSON object"},
		{"string at top", `"a"`, 0, "not a JSON object"},
		{"trailing data", `{"a":1} x`, 8, "after top-level value"},
		{"two objects", `{}{}`, 2, "after top-level value"},
		{"unterminated object", `{"a":1`, 6, "unexpected end"},
		{"unterminated string", `{"a":"x`, 7, "unexpected end"},
		{"unterminated skipped array", `{"x":[1,2`, 9, "unexpected end"},
		{"missing colon", `{"a" 1}`, 5, "after object key"},
		{"unquoted key", `{a:1}`, 1, "beginning of object key"},
		{"trailing comma in object", `{"a":1,}`, 7, "beginning of object key"},
		{"trailing comma in skipped array", `{"x":[1,]}`, 8, "beginning of value"},
		{"mismatched bracket", `{"x":[1}`, 7, "after array element"},
		{"bad escape", `{"a":"\x"}`, 7, "string escape"},
		{"bad escape in skipped key", `{"x":{"\q":1}}`, 8, "string escape"},
		{"short unicode escape", `{"a":"\u12g4"}`, 10, "hexadecimal"},
		{"control character", "{\"a\":\"x\ty\"}", 7, "control character"},
		{"control character in key", "{\"a\nb\":1}", 3, "control character"},
		{"leading zero", `{"a":01}`, 6, "after object key:value pair"},
		{"bare minus", `{"a":-}`, 6, "numeric literal"},
		{"missing fraction digits", `{"a":1.}`, 7, "decimal point"},
		{"missing exponent digits", `{"x":1e+}`, 8, "exponent"},
		{"plus sign", `{"a":+1}`, 5, "beginning of value"},
		{"bad literal", `{"a":tru}`, 8, "literal true"},
		{"bad skipped literal", `{"x":nul}`, 8, "literal null"},
		{"uppercase literal", `{"x":True}`, 5, "beginning of value"},
		{"NaN", `{"x":NaN}`, 5, "beginning of value"},
		{"single quotes", `{'a':1}`, 1, "beginning of object key"},
		{"too deep", `{"x":` + deep + `}`, 5 + maxDepth - 1, "max nesting depth"},
		{"too deep on a needed path", `{"a":{"b":` + strings.Repeat(`{"b":`, maxDepth) + `1` + strings.Repeat("}", maxDepth+2), 10 + 5*(maxDepth-2), "max nesting depth"},
	}
	p, err := Compile([][]string{{"a"}, {"a", "b", "b", "b"}})
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	x := p.NewExtractor()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := x.Extract([]byte(tt.rec))
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Extract error = %v, want a *SyntaxError", err)
			}
			if se.Offset != tt.offset || !strings.Contains(se.Msg, tt.wantMsg) {
				t.Errorf("got offset %d %q, want offset %d and a message containing %q", se.Offset, se.Msg, tt.offset, tt.wantMsg)
			}
			if !strings.Contains(err.Error(), "byte offset") {
				t.Errorf("error %q does not name the offset", err)
			}
			checkAgainstStdlib(t, [][]string{{"a"}}, []byte(tt.rec))
		})
	}
}

func TestExtractMaxDepthAccepted(t *testing.T) {
	// maxDepth containers, the object included, are valid, as for json.Valid.
	rec := `{"x":` + strings.Repeat("[", maxDepth-1) + strings.Repeat("]", maxDepth-1) + `}`
	checkAgainstStdlib(t, [][]string{{"x"}, {"x", "y"}}, []byte(rec))
	p, err := Compile([][]string{{"x", "y"}})
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	got, err := p.NewExtractor().Extract([]byte(rec))
	if err != nil {
		t.Fatalf("Extract: %v", err)
	}
	if got[0].Kind != KindArray || got[0].Rest != 1 {
		t.Fatalf("got %v rest %d, want array rest 1", got[0].Kind, got[0].Rest)
	}
}

func TestExtractReusesAfterError(t *testing.T) {
	p, err := Compile([][]string{{"a", "b"}, {"s"}})
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	x := p.NewExtractor()
	if _, err := x.Extract([]byte(`{"a":{"b":"\u0041","c":[1,[2,[3`)); err == nil {
		t.Fatal("Extract of a truncated record succeeded")
	}
	got, err := x.Extract([]byte(`{"s":"\u00e9","a":{"c":[[[]]]}}`))
	if err != nil {
		t.Fatalf("Extract: %v", err)
	}
	if got[0].Kind != KindAbsent || got[1].Kind != KindString || string(got[1].B) != "é" {
		t.Fatalf("after an error got %v %q and %v %q, want absent and string \"é\"", got[0].Kind, got[0].B, got[1].Kind, got[1].B)
	}
}

func TestExtractAllocatesNothing(t *testing.T) {
	recs, _ := loadRecords(t)
	p, err := Compile(benchPaths)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	x := p.NewExtractor()
	// One escaped needed string and one deep skipped value, so that the
	// scratch buffers are exercised too.
	extra := []byte(`{"eventName":"A\u0042","x":` + strings.Repeat("[", 500) + strings.Repeat("]", 500) + `}`)
	run := func() {
		for _, rec := range recs {
			if _, err := x.Extract(rec); err != nil {
				t.Fatalf("Extract: %v", err)
			}
		}
		if _, err := x.Extract(extra); err != nil {
			t.Fatalf("Extract: %v", err)
		}
	}
	run() // grow the scratch buffers once
	if allocs := testing.AllocsPerRun(5, run); allocs != 0 {
		t.Fatalf("Extract allocates %v times per pass over %d records, want 0", allocs, len(recs)+1)
	}
}
