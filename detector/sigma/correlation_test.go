package sigma

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rootwatch/rootwatch/detector"
)

// multiDoc has the shape of the specification's example (a correlation
// and the rules it refers to in one multi-document file), with base rules
// only, since rootwatch does not chain correlations.
const multiDoc = `title: Failed logins then success
id: b180ead8-d58f-40b2-ae54-c8940995b9b6
name: failed-then-success
correlation:
    type: temporal_ordered
    rules:
        - failed_login
        - 4d0a2c83-c62c-4ed4-b475-c7e23a9269b8
    group-by:
        - recipientAccountId
    timespan: 10m
level: high
---
title: Single failed login
id: 53ba33fd-3a50-4468-a5ef-c583635cfa92
name: failed_login
logsource: {product: aws, service: cloudtrail}
detection:
    selection:
        eventName: ConsoleLogin
        responseElements.ConsoleLogin: Failure
    condition: selection
level: low
---
title: Successful login
id: 4d0a2c83-c62c-4ed4-b475-c7e23a9269b8
logsource: {product: aws, service: cloudtrail}
detection:
    selection:
        eventName: ConsoleLogin
        responseElements.ConsoleLogin: Success
    condition: selection
level: low
---
title: Any login, shown
name: any_login
logsource: {product: aws, service: cloudtrail}
detection:
    selection:
        eventName: ConsoleLogin
    condition: selection
level: low
---
title: Many IPs
name: many-ips
correlation:
    type: value_count
    rules: [any_login, failed_login]
    group-by: [account]
    aliases:
        account:
            any_login: recipientAccountId
            failed_login: userIdentity.accountId
    timespan: 1h
    condition:
        field: sourceIPAddress
        gt: 2
    generate: true
level: medium
`

func TestParseAllCorrelationFile(t *testing.T) {
	rs, err := ParseAll("dir/mr_logins.yml", []byte(multiDoc), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 5 {
		t.Fatalf("got %d rules, want 5", len(rs))
	}
	c := rs[0]
	want := &Correlation{Type: TemporalOrdered, Rules: []string{"failed_login", "4d0a2c83-c62c-4ed4-b475-c7e23a9269b8"},
		GroupBy: []string{"recipientAccountId"}, Timespan: 10 * time.Minute, TimespanText: "10m", Min: 2, Line: 5, RulesLine: 6}
	if !reflect.DeepEqual(c.Correlation, want) {
		t.Errorf("correlation\n got %+v\nwant %+v", c.Correlation, want)
	}
	if c.Name != "failed-then-success" || c.Level != detector.LevelHigh || c.Detection != nil {
		t.Errorf("correlation rule = %+v", c)
	}
	// Names: the third document has none and is named after the file.
	if rs[2].Name != "mr_logins-3" || rs[1].Name != "failed_login" {
		t.Errorf("names %q, %q", rs[1].Name, rs[2].Name)
	}
	// Lines are lines of the file, not of the document.
	if rs[2].Line != 25 || rs[4].Correlation.Line != 47 {
		t.Errorf("lines: rule 3 at %d (want 25), correlation 5 at %d (want 47)", rs[2].Line, rs[4].Correlation.Line)
	}
	// failed_login is referred to by a generate: false correlation and by a
	// generate: true one: shown. The success rule only by the first: hidden.
	// any_login only by the generate: true one: shown.
	if rs[1].Hidden || !rs[2].Hidden || rs[3].Hidden {
		t.Errorf("hidden: failed_login %v (want false), success %v (want true), any_login %v (want false)", rs[1].Hidden, rs[2].Hidden, rs[3].Hidden)
	}
	vc := rs[4].Correlation
	if vc.Type != ValueCount || vc.Field != "sourceIPAddress" || vc.Min != 3 || !vc.Generate || vc.ConditionText != "gt: 2" ||
		vc.Aliases["account"]["failed_login"] != "userIdentity.accountId" {
		t.Errorf("value_count = %+v", vc)
	}
	// Parse (one document) still refuses collections.
	if _, err := Parse("x.yml", []byte(multiDoc)); err == nil || !strings.Contains(err.Error(), "multiple YAML documents") {
		t.Errorf("Parse of a collection: %v", err)
	}
}

// TestAggregationRewrite: the rewrite a deprecated aggregation's error
// shows loads, as the equivalent correlation.
func TestAggregationRewrite(t *testing.T) {
	src := `title: Many failed root sign-ins
name: failed-root
level: high
logsource: {product: aws, service: cloudtrail}
detection:
  sel:
    eventName: ConsoleLogin
  timeframe: 15m
  condition: sel | count() by recipientAccountId >= 5
`
	_, err := ParseAll("x.yml", []byte(src), Options{})
	var se *Error
	if !errors.As(err, &se) || se.Line != 9 {
		t.Fatalf("err = %v", err)
	}
	_, doc, ok := strings.Cut(se.Msg, "add this document after it:\n")
	if !ok {
		t.Fatalf("no rewrite in %q", se.Msg)
	}
	fixed := strings.Replace(src, "  timeframe: 15m\n  condition: sel | count() by recipientAccountId >= 5\n", "  condition: sel\n", 1) + doc + "\n"
	rs, err := ParseAll("x.yml", []byte(fixed), Options{})
	if err != nil {
		t.Fatalf("the rewrite does not load: %v\n%s", err, fixed)
	}
	c := rs[1].Correlation
	if c == nil || c.Type != EventCount || c.Min != 5 || c.Timespan != 15*time.Minute || !reflect.DeepEqual(c.GroupBy, []string{"recipientAccountId"}) ||
		!reflect.DeepEqual(c.Rules, []string{"failed-root"}) || rs[1].Level != detector.LevelHigh {
		t.Errorf("rewrite gives %+v", c)
	}
}

func TestParseTimespan(t *testing.T) {
	for in, want := range map[string]time.Duration{"30s": 30 * time.Second, "15m": 15 * time.Minute, "24h": 24 * time.Hour, "7d": 7 * 24 * time.Hour} {
		if got, err := ParseTimespan(in); err != nil || got != want {
			t.Errorf("ParseTimespan(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "0m", "15", "15M", "1.5h", "-1h", "8d", "1h30m"} {
		if _, err := ParseTimespan(in); err == nil {
			t.Errorf("ParseTimespan(%q) succeeded", in)
		}
	}
}
