package deploy_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/rootwatch/rootwatch/detector/attribution"
	"github.com/rootwatch/rootwatch/detector/correlate"
	"github.com/rootwatch/rootwatch/ingest"
	"github.com/rootwatch/rootwatch/ingest/backfill"
	"github.com/rootwatch/rootwatch/ingest/posture"
	"github.com/rootwatch/rootwatch/ingest/queue"
	"github.com/rootwatch/rootwatch/ingest/trailhealth"
	"github.com/rootwatch/rootwatch/ingest/watchdog"
	"github.com/rootwatch/rootwatch/notify"
	"github.com/rootwatch/rootwatch/notify/expect"
	"github.com/rootwatch/rootwatch/notify/sns"
)

const grafanaPath = "grafana/rootwatch.json"

// recorder is a Registerer that keeps every collector registered through
// it, so that their descriptors can be read back (a Registry does not
// expose the collectors it holds).
type recorder struct {
	reg        *prometheus.Registry
	collectors []prometheus.Collector
}

// Register records c and registers it with the underlying registry, which
// still rejects duplicates and inconsistent descriptors.
func (r *recorder) Register(c prometheus.Collector) error {
	if err := r.reg.Register(c); err != nil {
		return err
	}
	r.collectors = append(r.collectors, c)
	return nil
}

// MustRegister is Register, panicking on error (promauto calls it).
func (r *recorder) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

// Unregister removes c from the underlying registry.
func (r *recorder) Unregister(c prometheus.Collector) bool { return r.reg.Unregister(c) }

var (
	fqNameRE         = regexp.MustCompile(`fqName: "([^"]+)"`)
	variableLabelsRE = regexp.MustCompile(`variableLabels: \{([^}]*)\}`)
	constLabelsRE    = regexp.MustCompile(`constLabels: \{([^}]*)\}`)
)

// targetLabels are the labels Prometheus adds to every series it scrapes.
var targetLabels = []string{"job", "instance"}

// metricSet maps each series name the service exposes to its label names
// (the scrape's job and instance included).
type metricSet map[string]map[string]bool

// serviceMetrics returns every metric name (series name, so a histogram
// gives its _bucket, _sum and _count) the service exposes on /metrics,
// with its labels: the metrics cmd/rootwatch registers in `run`
// (cmd/rootwatch/run.go), built here from their packages' constructors,
// since nothing imports cmd.
func serviceMetrics(t *testing.T) metricSet {
	t.Helper()
	r := &recorder{reg: prometheus.NewRegistry()}
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ingest.NewMetrics(r)
	queue.NewMetrics(r)
	// notify.NewDispatcher registers the delivery metrics (notify.NewMetrics)
	// and the routes file exclusions' counter with Config.Registerer.
	if _, err := notify.NewDispatcher(notify.Config{Registerer: r}); err != nil {
		t.Fatal(err)
	}
	// The watchdog's gap filler registers rootwatch_gap_fills_total with the
	// service's registerer (backfill.GapFillConfig.Registerer); nothing is
	// filled here.
	fills, err := backfill.NewGapFiller(backfill.GapFillConfig{API: s3.NewFromConfig(aws.Config{Region: "us-east-1"}), Processor: &ingest.Pipeline{}, Registerer: r})
	if err != nil {
		t.Fatal(err)
	}
	fills.Stop()
	// cmd/rootwatch builds the planned-root-use matcher and the SNS sink
	// with the same registerer (expect.Options.Registerer, sns.WithRegisterer).
	expect.NewMatcher(expect.NewFile(filepath.Join(t.TempDir(), "expectations.json")), expect.Options{Registerer: r})
	topic, err := sns.ParseTopicARN("arn:aws:sns:us-east-1:123456789012:rootwatch")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sns.New(sns.Config{TopicARN: topic.ARN}, sns.NewClient(aws.Config{Region: "us-east-1"}, topic), sns.WithRegisterer(r)); err != nil {
		t.Fatal(err)
	}
	watchdog.NewMetrics(r)
	trailhealth.NewMetrics(r)
	posture.NewMetrics(r)
	attribution.NewMetrics(r)
	correlate.NewMetrics(r)

	names := metricSet{}
	// A histogram's series are only its _bucket, _sum and _count: its bare
	// name selects nothing; _bucket adds le. A summary's bare name holds
	// the quantiles.
	add := func(name string, histogram, summary bool, labels []string) {
		series := func(n string, extra ...string) {
			if names[n] == nil {
				names[n] = map[string]bool{}
			}
			for _, l := range slices.Concat(labels, targetLabels, extra) {
				names[n][l] = true
			}
		}
		switch {
		case histogram:
			series(name+"_bucket", "le")
			series(name + "_sum")
			series(name + "_count")
		case summary:
			series(name, "quantile")
			series(name + "_sum")
			series(name + "_count")
		default:
			series(name)
		}
	}
	// labelList reads a descriptor's {a,b} or {a="x",b="y"} label list.
	labelList := func(re *regexp.Regexp, desc string) []string {
		m := re.FindStringSubmatch(desc)
		if m == nil || strings.TrimSpace(m[1]) == "" {
			return nil
		}
		var out []string
		for _, l := range strings.Split(m[1], ",") {
			l, _, _ = strings.Cut(l, "=")
			out = append(out, strings.TrimSpace(l))
		}
		return out
	}
	for _, c := range r.collectors {
		var histogram, summary bool
		switch c.(type) {
		case *prometheus.HistogramVec, prometheus.Histogram:
			histogram = true
		case *prometheus.SummaryVec, prometheus.Summary:
			summary = true
		}
		ch := make(chan *prometheus.Desc, 64)
		go func() { c.Describe(ch); close(ch) }()
		for d := range ch {
			m := fqNameRE.FindStringSubmatch(d.String())
			if m == nil || !variableLabelsRE.MatchString(d.String()) {
				t.Fatalf("cannot read the name and labels of descriptor %s", d)
			}
			add(m[1], histogram, summary, slices.Concat(labelList(variableLabelsRE, d.String()), labelList(constLabelsRE, d.String())))
		}
	}
	// The Go and process collectors describe their metrics but are not
	// typed vectors: take the types of what they gather.
	mfs, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		var labels []string
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName())
			}
		}
		add(mf.GetName(), mf.GetType().String() == "HISTOGRAM", mf.GetType().String() == "SUMMARY", labels)
	}
	if len(names) < 40 || !names["rootwatch_alert_latency_seconds_bucket"]["le"] || names["go_goroutines"] == nil ||
		!names["rootwatch_root_posture_status"]["check"] || !names["rootwatch_detections_excluded_total"]["reason"] {
		t.Fatalf("the metric set looks wrong (%d names): %v", len(names), slices.Sorted(maps.Keys(names)))
	}
	return names
}

// metricsConstructors are the metric constructors serviceMetrics calls,
// as cmd/rootwatch spells them; notify's metrics are registered by
// notify.NewDispatcher (Config.Registerer), not called from cmd.
var metricsConstructors = []string{
	"collectors.NewGoCollector", "collectors.NewProcessCollector",
	"ingest.NewMetrics", "posture.NewMetrics", "queue.NewMetrics", "trailhealth.NewMetrics", "watchdog.NewMetrics", "attribution.NewMetrics",
	"correlate.NewMetrics",
}

var constructorRE = regexp.MustCompile(`\b(\w+\.New\w*Metrics|collectors\.New\w+Collector)\(`)

// TestServiceMetricsMatchCmd: serviceMetrics builds the metrics cmd/rootwatch
// registers, and no others; a new metrics package wired into cmd must be
// added there (and may then be put on the dashboard).
func TestServiceMetricsMatchCmd(t *testing.T) {
	files, err := filepath.Glob("../cmd/rootwatch/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no cmd/rootwatch sources: %v", err)
	}
	found := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range constructorRE.FindAllStringSubmatch(string(b), -1) {
			found[m[1]] = true
		}
	}
	got := sortedKeys(found)
	want := slices.Sorted(slices.Values(metricsConstructors))
	if !slices.Equal(got, want) {
		t.Errorf("cmd/rootwatch calls %q; serviceMetrics builds %q: keep them in step", got, want)
	}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// promqlKeywords are PromQL words that are not metric names: aggregation
// modifiers, binary operators and vector matching, offset/@ modifiers,
// and literals.
var promqlKeywords = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"and": true, "or": true, "unless": true, "bool": true, "offset": true, "atan2": true,
	"inf": true, "nan": true,
}

// aggregations are PromQL's aggregation operators, which may be followed
// by a by/without clause before their parenthesis.
var aggregations = map[string]bool{
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
	"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true,
	"limitk": true, "limit_ratio": true,
}

// groupingKeywords take a parenthesised label list, which is skipped.
var groupingKeywords = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
}

var labelValuesRE = regexp.MustCompile(`^\s*label_values\((.*),\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)\s*$`)

// metricNames returns the metric names a PromQL expression selects:
// identifiers used as selectors (bare, or followed by `{` or `[`). It skips
// function and aggregation names (an identifier followed by `(`), keywords,
// label lists after by/without/on/ignoring/group_left/group_right, label
// matchers inside `{...}`, range and subquery durations inside `[...]`,
// string literals, numbers and durations, and Grafana variables ($x,
// ${x}). A Grafana `label_values(expr, label)` variable query is checked
// by its expr. It is a checker for dashboards, not a PromQL parser: it
// errs on the side of reporting an identifier, so a mistake shows up as an
// unknown metric rather than passing silently.
func metricNames(expr string) ([]string, error) {
	q, err := parseQuery(expr)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, sel := range q.selectors {
		out = append(out, sel.metric)
	}
	return out, nil
}

// selector is a metric a query selects and the labels its {...} matchers
// name.
type selector struct {
	metric string
	labels []string
}

// query is what the dashboard checks read from a PromQL expression: its
// selectors, and the labels of its by and without clauses.
type query struct {
	selectors []selector
	grouping  []string
}

var matcherRE = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)`)

// parseQuery reads the selectors and grouping labels of expr, as
// metricNames describes. Matcher values are skipped by matching label
// names only outside string literals.
func parseQuery(expr string) (query, error) {
	if m := labelValuesRE.FindStringSubmatch(expr); m != nil {
		expr = m[1]
	}
	var out query
	s := expr
	parens := 0 // open parentheses of calls and grouping
	isIdentStart := func(c byte) bool { return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
	isIdent := func(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }
	skipSpace := func(i int) int {
		for i < len(s) && strings.ContainsRune(" \t\r\n", rune(s[i])) {
			i++
		}
		return i
	}
	// closing returns the index after the bracket matching s[i], skipping
	// string literals.
	closing := func(i int) (int, error) {
		open := s[i]
		closeCh := map[byte]byte{'(': ')', '{': '}', '[': ']'}[open]
		depth := 0
		for j := i; j < len(s); j++ {
			switch c := s[j]; {
			case c == '"' || c == '\'' || c == '`':
				k := strings.IndexByte(s[j+1:], c)
				if k < 0 {
					return 0, fmt.Errorf("unterminated string at %d in %q", j, expr)
				}
				j += k + 1
			case c == open:
				depth++
			case c == closeCh:
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, fmt.Errorf("unbalanced %q at %d in %q", open, i, expr)
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			k := strings.IndexByte(s[i+1:], c)
			if k < 0 {
				return query{}, fmt.Errorf("unterminated string at %d in %q", i, expr)
			}
			i += k + 2
		case c == '{' || c == '[':
			j, err := closing(i)
			if err != nil {
				return query{}, err
			}
			i = j
		case c == '$':
			i++
			if i < len(s) && s[i] == '{' {
				j, err := closing(i)
				if err != nil {
					return query{}, err
				}
				i = j
				continue
			}
			for i < len(s) && isIdent(s[i]) {
				i++
			}
		case c >= '0' && c <= '9' || c == '.':
			for i < len(s) && (isIdent(s[i]) || s[i] == '.') {
				i++ // a number or a duration (5m, 1e3, 0x1f)
			}
		case isIdentStart(c):
			j := i
			for j < len(s) && isIdent(s[j]) {
				j++
			}
			word := s[i:j]
			next := skipSpace(j)
			switch {
			case groupingKeywords[strings.ToLower(word)]:
				if next < len(s) && s[next] == '(' {
					k, err := closing(next)
					if err != nil {
						return query{}, err
					}
					if w := strings.ToLower(word); w == "by" || w == "without" {
						for _, l := range strings.Split(s[next+1:k-1], ",") {
							if l = strings.TrimSpace(l); l != "" {
								out.grouping = append(out.grouping, l)
							}
						}
					}
					j = k
				}
			case promqlKeywords[strings.ToLower(word)], aggregations[strings.ToLower(word)]:
			case next < len(s) && s[next] == '(':
				// a function or an aggregation
			default:
				sel := selector{metric: word}
				if next < len(s) && s[next] == '{' {
					k, err := closing(next)
					if err != nil {
						return query{}, err
					}
					for _, m := range matcherRE.FindAllStringSubmatch(stringsOut(s[next+1:k-1]), -1) {
						sel.labels = append(sel.labels, m[1])
					}
					j = k
				}
				out.selectors = append(out.selectors, sel)
			}
			i = j
		case c == '(':
			parens++
			i++
		case c == ')':
			if parens--; parens < 0 {
				return query{}, fmt.Errorf("unbalanced ')' at %d in %q", i, expr)
			}
			i++
		default:
			i++
		}
	}
	if parens != 0 {
		return query{}, fmt.Errorf("unbalanced '(' in %q", expr)
	}
	return out, nil
}

// stringsOut blanks the string literals of a matcher list, so that a
// value such as "a=b" is not read as a label name.
func stringsOut(s string) string {
	b := []byte(s)
	for i := 0; i < len(b); i++ {
		if c := b[i]; c == '"' || c == '\'' || c == '`' {
			j := i + 1
			for j < len(b) && b[j] != c {
				if b[j] == '\\' && c != '`' {
					b[j] = ' '
					j++
				}
				if j < len(b) {
					b[j] = ' '
				}
				j++
			}
			i = j
		}
	}
	return string(b)
}

func TestMetricNames(t *testing.T) {
	tests := []struct {
		expr string
		want []string
	}{
		{`rootwatch_sqs_stalled`, []string{"rootwatch_sqs_stalled"}},
		{`max by (queue) (rootwatch_sqs_stalled{job=~"$job"})`, []string{"rootwatch_sqs_stalled"}},
		{`sum by (sink, le) (rate(rootwatch_alert_latency_seconds_bucket{job=~"$job"}[$__rate_interval]))`, []string{"rootwatch_alert_latency_seconds_bucket"}},
		{`histogram_quantile(0.99, sum without (instance) (rate(a_bucket[5m])))`, []string{"a_bucket"}},
		{`time() - rootwatch_log_last_object_timestamp_seconds{account=~"$account", region=~"${region}"}`, []string{"rootwatch_log_last_object_timestamp_seconds"}},
		{`a / on (sink) group_left (reason) b > bool 0`, []string{"a", "b"}},
		{`a offset 1h and b @ 1700000000 or vector(1e3)`, []string{"a", "b"}},
		{`sum(increase(x{reason="by(x) {y}"}[$__range])) unless y`, []string{"x", "y"}},
		{`{__name__="x"}`, nil},
		{`label_values(rootwatch_log_gap{job=~"$job"}, account)`, []string{"rootwatch_log_gap"}},
		{`max_over_time(rootwatch_log_gap[1h:5m])`, []string{"rootwatch_log_gap"}},
		{`sum by(rule) (rootwatch_detections_total) * 2 + inf`, []string{"rootwatch_detections_total"}},
		{`topk without (job) (3, count by (rule) (x))`, []string{"x"}},
		{`sum_rootwatch{a="1"} / rootwatch_by`, []string{"sum_rootwatch", "rootwatch_by"}},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			got, err := metricNames(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("metricNames(%q) = %q, want %q", tt.expr, got, tt.want)
			}
		})
	}
	labelTests := []struct {
		expr      string
		selectors []selector
		grouping  []string
	}{
		{`sum by (rule, reason) (increase(x{job=~"$job", reason!="a=b,c=~d"}[1h])) / on (job) group_left y{}`,
			[]selector{{"x", []string{"job", "reason"}}, {"y", nil}}, []string{"rule", "reason"}},
		{`count(max without(instance) (z{a="b=c"}) == 3) or vector(0)`, []selector{{"z", []string{"a"}}}, []string{"instance"}},
	}
	for _, tt := range labelTests {
		q, err := parseQuery(tt.expr)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.EqualFunc(q.selectors, tt.selectors, func(a, b selector) bool { return a.metric == b.metric && slices.Equal(a.labels, b.labels) }) ||
			!slices.Equal(q.grouping, tt.grouping) {
			t.Errorf("parseQuery(%q) = %+v, want selectors %+v, grouping %q", tt.expr, q, tt.selectors, tt.grouping)
		}
	}
	for _, bad := range []string{`sum(rate(x[5m])`, `x{a="b}`, `sum(x))`, `x[5m`} {
		if _, err := metricNames(bad); err == nil {
			t.Errorf("metricNames(%q): no error", bad)
		}
	}
}

// dashboard is the part of a Grafana dashboard the checks read.
type dashboard struct {
	Title         string  `json:"title"`
	UID           string  `json:"uid"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Datasource *datasource     `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Datasource *datasource `json:"datasource"`
	Targets    []struct {
		RefID      string      `json:"refId"`
		Expr       string      `json:"expr"`
		Datasource *datasource `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a collapsed row's panels
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// templateDatasource is how every panel and query must name its data
// source: the dashboard's `datasource` variable, so the dashboard loads
// against any Prometheus.
const templateDatasource = "${datasource}"

// checkDashboard parses a dashboard and returns every problem: JSON that
// does not load, a missing template variable, a duplicate or missing panel
// id, a panel or target not on the ${datasource} variable, a panel without
// a query, a query the extractor cannot read, and every metric a query
// (panel or template variable) names that is not in known, every label a
// selector's matchers name that its metric does not have, and every label
// of a by or without clause that none of the query's metrics has.
func checkDashboard(b []byte, known metricSet) []string {
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		return []string{"JSON does not load: " + err.Error()}
	}
	var errs []string
	errf := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }
	if d.Title == "" || d.UID == "" {
		errf("dashboard has no title or uid")
	}
	if d.SchemaVersion < 36 {
		errf("schemaVersion %d: want 36 or later", d.SchemaVersion)
	}
	checkExpr := func(where, expr string) {
		q, err := parseQuery(expr)
		if err != nil {
			errf("%s: %v", where, err)
			return
		}
		if len(q.selectors) == 0 {
			errf("%s: query %q names no metric", where, expr)
		}
		anyHas := map[string]bool{}
		for _, sel := range q.selectors {
			labels, ok := known[sel.metric]
			if !ok {
				errf("%s: metric %q does not exist (query %q)", where, sel.metric, expr)
				continue
			}
			for l := range labels {
				anyHas[l] = true
			}
			for _, l := range sel.labels {
				if !labels[l] && l != "__name__" {
					errf("%s: metric %q has no label %q (query %q)", where, sel.metric, l, expr)
				}
			}
		}
		for _, l := range q.grouping {
			if !anyHas[l] {
				errf("%s: no metric of the query has label %q (query %q)", where, l, expr)
			}
		}
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
		if v.Type != "query" {
			continue
		}
		if v.Datasource == nil || v.Datasource.UID != templateDatasource {
			errf("variable %s: datasource is not %s", v.Name, templateDatasource)
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			if err := json.Unmarshal(v.Query, &q.Query); err != nil {
				errf("variable %s: query is neither a string nor an object", v.Name)
				continue
			}
		}
		checkExpr("variable "+v.Name, q.Query)
	}
	if vars["datasource"] != "datasource" {
		errf("no `datasource` variable of type datasource")
	}
	for _, v := range []string{"account", "region"} {
		if vars[v] != "query" {
			errf("no %q query variable", v)
		}
	}
	ids := map[int]string{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			where := fmt.Sprintf("panel %d %q", p.ID, p.Title)
			if p.ID == 0 {
				errf("%s: no id", where)
			} else if other, dup := ids[p.ID]; dup {
				errf("%s: id also used by %q", where, other)
			}
			ids[p.ID] = p.Title
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			if p.Datasource == nil || p.Datasource.UID != templateDatasource || p.Datasource.Type != "prometheus" {
				errf("%s: datasource is not the prometheus %s variable", where, templateDatasource)
			}
			if len(p.Targets) == 0 {
				errf("%s: no query", where)
			}
			for _, tg := range p.Targets {
				tw := where + " target " + tg.RefID
				if tg.Datasource != nil && tg.Datasource.UID != templateDatasource {
					errf("%s: datasource is not %s", tw, templateDatasource)
				}
				checkExpr(tw, tg.Expr)
			}
		}
	}
	walk(d.Panels)
	return errs
}

func TestGrafanaDashboard(t *testing.T) {
	known := serviceMetrics(t)
	real, err := os.ReadFile(grafanaPath)
	if err != nil {
		t.Fatal(err)
	}
	// snippet wraps panels in a dashboard with the required variables.
	snippet := func(panels string) []byte {
		return []byte(`{"title": "t", "uid": "t", "schemaVersion": 39,
		"templating": {"list": [
			{"name": "datasource", "type": "datasource", "query": "prometheus"},
			{"name": "account", "type": "query", "datasource": {"type": "prometheus", "uid": "${datasource}"},
			 "query": {"query": "label_values(rootwatch_log_gap, account)"}},
			{"name": "region", "type": "query", "datasource": {"type": "prometheus", "uid": "${datasource}"},
			 "query": "label_values(rootwatch_log_gap, region)"}]},
		"panels": [` + panels + `]}`)
	}
	const ds = `"datasource": {"type": "prometheus", "uid": "${datasource}"}`
	tests := []struct {
		name string
		json []byte
		want []string // substrings of the problems expected; none: valid
	}{
		{name: "the shipped dashboard", json: real},
		{name: "valid snippet", json: snippet(`{"id": 1, "type": "timeseries", "title": "ok", ` + ds + `,
			"targets": [{"refId": "A", "expr": "sum by (le) (rate(rootwatch_event_lag_seconds_bucket[5m]))"}]}`)},
		{name: "unknown metric", json: snippet(`{"id": 1, "type": "timeseries", "title": "bad", ` + ds + `,
			"targets": [{"refId": "A", "expr": "rate(rootwatch_detection_total[5m])"}]}`),
			want: []string{`metric "rootwatch_detection_total" does not exist`}},
		{name: "unknown metric in a collapsed row", json: snippet(`{"id": 1, "type": "row", "title": "r", "collapsed": true, "panels": [
			{"id": 2, "type": "stat", "title": "bad", ` + ds + `, "targets": [{"refId": "A", "expr": "rootwatch_queue_stalled"}]}]}`),
			want: []string{`metric "rootwatch_queue_stalled" does not exist`}},
		{name: "histogram without a suffix", json: snippet(`{"id": 1, "type": "timeseries", "title": "bad", ` + ds + `,
			"targets": [{"refId": "A", "expr": "rate(rootwatch_alert_latency_seconds[5m])"}]}`),
			want: []string{`metric "rootwatch_alert_latency_seconds" does not exist`}},
		{name: "unknown metric in a variable", json: []byte(strings.Replace(string(snippet("")), "label_values(rootwatch_log_gap, region)", "label_values(rootwatch_log_gaps, region)", 1)),
			want: []string{`variable region: metric "rootwatch_log_gaps" does not exist`}},
		{name: "duplicate ids", json: snippet(`{"id": 1, "type": "stat", "title": "a", ` + ds + `, "targets": [{"refId": "A", "expr": "rootwatch_sqs_stalled"}]},
			{"id": 1, "type": "stat", "title": "b", ` + ds + `, "targets": [{"refId": "A", "expr": "rootwatch_sqs_stalled"}]}`),
			want: []string{`id also used by "a"`}},
		{name: "fixed datasource", json: snippet(`{"id": 1, "type": "stat", "title": "a", "datasource": {"type": "prometheus", "uid": "P1809F7CD0C75ACF3"},
			"targets": [{"refId": "A", "expr": "rootwatch_sqs_stalled"}]}`),
			want: []string{"datasource is not the prometheus ${datasource} variable"}},
		{name: "no datasource", json: snippet(`{"id": 1, "type": "stat", "title": "a", "targets": [{"refId": "A", "expr": "rootwatch_sqs_stalled"}]}`),
			want: []string{"datasource is not"}},
		{name: "no query", json: snippet(`{"id": 1, "type": "stat", "title": "a", ` + ds + `}`),
			want: []string{"no query"}},
		{name: "labels of the metric", json: snippet(`{"id": 1, "type": "table", "title": "ok", ` + ds + `,
			"targets": [{"refId": "A", "expr": "max by (account, check) (rootwatch_root_posture_status{job=~\"$job\", check=\"a=b, x=~y\", account!=\"\"}) > on (instance) group_left rootwatch_root_posture_last_audit_timestamp_seconds"}]}`)},
		{name: "unknown matcher label", json: snippet(`{"id": 1, "type": "stat", "title": "bad", ` + ds + `,
			"targets": [{"refId": "A", "expr": "rootwatch_root_posture_status{checks=\"mfa\"}"}]}`),
			want: []string{`metric "rootwatch_root_posture_status" has no label "checks"`}},
		{name: "label of another metric", json: snippet(`{"id": 1, "type": "stat", "title": "bad", ` + ds + `,
			"targets": [{"refId": "A", "expr": "sum(rootwatch_correlation_alerts_total{reason=\"group_full\"})"}]}`),
			want: []string{`metric "rootwatch_correlation_alerts_total" has no label "reason"`}},
		{name: "unknown grouping label", json: snippet(`{"id": 1, "type": "timeseries", "title": "bad", ` + ds + `,
			"targets": [{"refId": "A", "expr": "sum by (rule, reason) (increase(rootwatch_correlation_alerts_total[1h]))"}]}`),
			want: []string{`no metric of the query has label "reason"`}},
		{name: "le of a histogram's sum", json: snippet(`{"id": 1, "type": "timeseries", "title": "bad", ` + ds + `,
			"targets": [{"refId": "A", "expr": "sum by (le) (rate(rootwatch_event_lag_seconds_sum[5m]))"}]}`),
			want: []string{`no metric of the query has label "le"`}},
		{name: "not JSON", json: []byte(`{"panels": [}`), want: []string{"JSON does not load"}},
		{name: "no variables", json: []byte(`{"title": "t", "uid": "t", "schemaVersion": 39, "panels": []}`),
			want: []string{"no `datasource` variable", `no "account" query variable`, `no "region" query variable`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := checkDashboard(tt.json, known)
			if len(tt.want) == 0 {
				for _, e := range errs {
					t.Error(e)
				}
				return
			}
			for _, w := range tt.want {
				if !slices.ContainsFunc(errs, func(e string) bool { return strings.Contains(e, w) }) {
					t.Errorf("no problem mentions %q; got %q", w, errs)
				}
			}
		})
	}
}

// dashboardQueries returns every query of a Grafana dashboard: its panels'
// (collapsed rows included) and its query variables'.
func dashboardQueries(t *testing.T, b []byte) []string {
	t.Helper()
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	var out []string
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				out = append(out, tg.Expr)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		var q struct {
			Query string `json:"query"`
		}
		if json.Unmarshal(v.Query, &q) != nil {
			_ = json.Unmarshal(v.Query, &q.Query)
		}
		out = append(out, q.Query)
	}
	return out
}

// TestEveryServiceMetricOnTheDashboard: every rootwatch_ metric the service
// exposes is shown by some panel of the Grafana dashboard (a histogram by
// any of its series), so a metric added to the service gets a panel.
func TestEveryServiceMetricOnTheDashboard(t *testing.T) {
	b, err := os.ReadFile(grafanaPath)
	if err != nil {
		t.Fatal(err)
	}
	shown := map[string]bool{}
	for _, expr := range dashboardQueries(t, b) {
		names, err := metricNames(expr)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			shown[n] = true
		}
	}
	// base maps a series name to its metric: a histogram's _bucket, _sum
	// and _count are one metric.
	known := serviceMetrics(t)
	base := func(n string) string {
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(n, suf); ok && known[b+"_bucket"] != nil {
				return b
			}
		}
		return n
	}
	shownBase := map[string]bool{}
	for n := range shown {
		shownBase[base(n)] = true
	}
	var missing []string
	for n := range known {
		if strings.HasPrefix(n, "rootwatch_") && !shownBase[base(n)] {
			missing = append(missing, base(n))
		}
	}
	slices.Sort(missing)
	if missing = slices.Compact(missing); len(missing) > 0 {
		t.Errorf("service metrics on no panel of %s: %q", grafanaPath, missing)
	}
}
