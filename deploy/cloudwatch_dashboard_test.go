package deploy_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// cwMetrics are the CloudWatch namespaces the dashboard may use, with the
// metrics it may show and, per dimension, the template resource type and
// how the dimension value must be written (the attribute of !GetAtt, or ""
// for !Ref) to name that resource.
var cwMetrics = map[string]struct {
	metrics    []string
	dimensions map[string]cwDimension
}{
	"AWS/SQS": {
		metrics: []string{"ApproximateNumberOfMessagesVisible", "ApproximateNumberOfMessagesNotVisible",
			"ApproximateNumberOfMessagesDelayed", "ApproximateAgeOfOldestMessage", "NumberOfMessagesSent",
			"NumberOfMessagesReceived", "NumberOfMessagesDeleted", "NumberOfEmptyReceives", "SentMessageSize"},
		dimensions: map[string]cwDimension{"QueueName": {"AWS::SQS::Queue", "QueueName"}},
	},
	"AWS/ECS": {
		metrics:    []string{"CPUUtilization", "MemoryUtilization"},
		dimensions: map[string]cwDimension{"ClusterName": {"AWS::ECS::Cluster", ""}, "ServiceName": {"AWS::ECS::Service", "Name"}},
	},
	"ECS/ContainerInsights": {
		metrics: []string{"RunningTaskCount", "DesiredTaskCount", "PendingTaskCount", "CpuUtilized", "CpuReserved",
			"MemoryUtilized", "MemoryReserved", "NetworkRxBytes", "NetworkTxBytes"},
		dimensions: map[string]cwDimension{"ClusterName": {"AWS::ECS::Cluster", ""}, "ServiceName": {"AWS::ECS::Service", "Name"}},
	},
}

// cwDimension is the resource a dimension value must name.
type cwDimension struct {
	resourceType string
	attr         string // "" for !Ref
}

// pseudoParameters are the pseudo parameters a !Sub may use.
var pseudoParameters = []string{"AWS::AccountId", "AWS::Partition", "AWS::Region", "AWS::StackName", "AWS::StackId", "AWS::URLSuffix"}

var subVarRE = regexp.MustCompile(`\$\{([^}]*)\}`)

// resolveSub replaces the ${...} of a !Sub string with placeholders that
// keep what they named: @pseudo:AWS::Region@, @ref:Name@ and
// @getatt:Name.Attr@; ${!x} becomes the literal ${x}. It reports a
// variable that names no parameter, resource or pseudo parameter.
func resolveSub(s string, resources map[string]string, params map[string]bool) (string, []string) {
	var errs []string
	out := subVarRE.ReplaceAllStringFunc(s, func(m string) string {
		v := m[2 : len(m)-1]
		switch {
		case strings.HasPrefix(v, "!"):
			return "${" + v[1:] + "}"
		case strings.Contains(v, "::"):
			if !slices.Contains(pseudoParameters, v) {
				errs = append(errs, fmt.Sprintf("${%s}: not a pseudo parameter", v))
			}
			return "@pseudo:" + v + "@"
		case strings.Contains(v, "."):
			name, _, _ := strings.Cut(v, ".")
			if _, ok := resources[name]; !ok {
				errs = append(errs, fmt.Sprintf("${%s}: no resource %s", v, name))
			}
			return "@getatt:" + v + "@"
		default:
			if _, ok := resources[v]; !ok && !params[v] {
				errs = append(errs, fmt.Sprintf("${%s}: no resource or parameter %s", v, v))
			}
			return "@ref:" + v + "@"
		}
	})
	return out, errs
}

// cwWidget is a CloudWatch dashboard widget, as much as the checks read.
type cwWidget struct {
	Type       string `json:"type"`
	X          int    `json:"x"`
	Y          int    `json:"y"`
	Width      int    `json:"width"`
	Height     int    `json:"height"`
	Properties struct {
		Title   string   `json:"title"`
		Region  string   `json:"region"`
		Metrics [][]any  `json:"metrics"`
		Alarms  []string `json:"alarms"`
		Query   string   `json:"query"`
	} `json:"properties"`
}

var placeholderRE = regexp.MustCompile(`^@(ref|getatt):([A-Za-z0-9]+)(?:\.([A-Za-z0-9.]+))?@$`)

// checkCloudWatchDashboard checks a DashboardBody (!Sub string) against
// the template's resources (name to type) and parameters, and the log
// group the task writes to: the body loads as JSON once substituted; every
// widget has a known type and fits the 24-column grid; metric widgets are
// in the stack's region and use a known namespace and metric, with every
// dimension naming a resource of the template of the right type; alarm
// widgets name alarms of the template, and every alarm of the template is
// shown; log widgets query the task's log group, and every message they
// filter on (msg = "..." or msg in [...]) is one the service logs: a quoted
// string of its Go sources, src.
func checkCloudWatchDashboard(body string, resources map[string]string, params map[string]bool, logGroup, src string) []string {
	sub, errs := resolveSub(body, resources, params)
	errf := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }
	var d struct {
		Widgets []cwWidget `json:"widgets"`
	}
	if err := json.Unmarshal([]byte(sub), &d); err != nil {
		return append(errs, "DashboardBody is not JSON once substituted: "+err.Error())
	}
	if len(d.Widgets) == 0 {
		errf("no widgets")
	}
	// names resolves a placeholder to the resource it names, checking its
	// type and attribute.
	names := func(where, v, wantType, wantAttr string) {
		m := placeholderRE.FindStringSubmatch(v)
		switch {
		case m == nil:
			errf("%s: %q is not a reference to a resource of the template", where, v)
		case resources[m[2]] != wantType:
			errf("%s: %s is a %q, want a %s", where, m[2], resources[m[2]], wantType)
		case m[3] != wantAttr:
			errf("%s: %s is referenced as %q, want %q", where, m[2], m[3], wantAttr)
		}
	}
	shownAlarms := map[string]bool{}
	for i, w := range d.Widgets {
		where := fmt.Sprintf("widget %d %q", i, w.Properties.Title)
		if w.Width <= 0 || w.Height <= 0 || w.X < 0 || w.X+w.Width > 24 {
			errf("%s: does not fit the 24-column grid (x %d, width %d, height %d)", where, w.X, w.Width, w.Height)
		}
		if w.Type != "text" && w.Type != "alarm" && w.Properties.Title == "" {
			errf("%s: no title", where)
		}
		switch w.Type {
		case "text":
		case "metric":
			if w.Properties.Region != "@pseudo:AWS::Region@" {
				errf("%s: region is %q, want ${AWS::Region}", where, w.Properties.Region)
			}
			if len(w.Properties.Metrics) == 0 {
				errf("%s: no metrics", where)
			}
			for j, row := range w.Properties.Metrics {
				mw := fmt.Sprintf("%s metric %d", where, j)
				if len(row) > 0 {
					if _, ok := row[len(row)-1].(map[string]any); ok {
						row = row[:len(row)-1] // rendering options
					}
				}
				var strs []string
				for _, e := range row {
					s, ok := e.(string)
					if !ok {
						errf("%s: %v is not a string", mw, e)
					}
					strs = append(strs, s)
				}
				if len(strs) < 4 || len(strs)%2 != 0 {
					errf("%s: want namespace, metric name and dimension pairs, got %q", mw, strs)
					continue
				}
				ns, ok := cwMetrics[strs[0]]
				if !ok {
					errf("%s: namespace %q is not one the dashboard may use", mw, strs[0])
					continue
				}
				if !slices.Contains(ns.metrics, strs[1]) {
					errf("%s: %s has no metric %q", mw, strs[0], strs[1])
				}
				for k := 2; k < len(strs); k += 2 {
					dim, ok := ns.dimensions[strs[k]]
					if !ok {
						errf("%s: %s has no dimension %q", mw, strs[0], strs[k])
						continue
					}
					names(mw+" "+strs[k], strs[k+1], dim.resourceType, dim.attr)
				}
			}
		case "alarm":
			if len(w.Properties.Alarms) == 0 {
				errf("%s: no alarms", where)
			}
			for _, a := range w.Properties.Alarms {
				names(where, a, "AWS::CloudWatch::Alarm", "Arn")
				if m := placeholderRE.FindStringSubmatch(a); m != nil {
					shownAlarms[m[2]] = true
				}
			}
		case "log":
			if w.Properties.Region != "@pseudo:AWS::Region@" {
				errf("%s: region is %q, want ${AWS::Region}", where, w.Properties.Region)
			}
			source, _, _ := strings.Cut(w.Properties.Query, "|")
			if want := "SOURCE '@ref:" + logGroup + "@'"; strings.TrimSpace(source) != want {
				errf("%s: query does not start with SOURCE '${%s}' (the task's log group): %q", where, logGroup, w.Properties.Query)
			}
			for _, m := range filteredMessages(w.Properties.Query) {
				if !strings.Contains(src, strconv.Quote(m)) {
					errf("%s: the service logs no message %q", where, m)
				}
			}
		default:
			errf("%s: unknown widget type %q", where, w.Type)
		}
	}
	for name, typ := range resources {
		if typ == "AWS::CloudWatch::Alarm" && !shownAlarms[name] {
			errf("alarm %s is in no alarm widget", name)
		}
	}
	slices.Sort(errs)
	return errs
}

var (
	msgEqualsRE = regexp.MustCompile(`\bmsg\s*=\s*"([^"]*)"`)
	msgInRE     = regexp.MustCompile(`\bmsg\s+in\s*\[([^\]]*)\]`)
	quotedRE    = regexp.MustCompile(`"([^"]*)"`)
)

// filteredMessages returns the log messages a Logs Insights query filters
// on: msg = "..." and the strings of msg in [...].
func filteredMessages(q string) []string {
	var out []string
	for _, m := range msgEqualsRE.FindAllStringSubmatch(q, -1) {
		out = append(out, m[1])
	}
	for _, m := range msgInRE.FindAllStringSubmatch(q, -1) {
		for _, s := range quotedRE.FindAllStringSubmatch(m[1], -1) {
			out = append(out, s[1])
		}
	}
	return out
}

// serviceSource returns the service's Go sources (tests excluded), joined:
// where the messages it logs are written.
func serviceSource(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, dir := range []string{"../cmd", "../detector", "../ingest", "../notify", "../internal"} {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) && path == dir {
					return fs.SkipDir
				}
				return err
			}
			if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			c, err := os.ReadFile(path)
			b.Write(c)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if !strings.Contains(b.String(), `"message moved to the dead-letter queue"`) {
		t.Fatal("the service sources read look wrong")
	}
	return b.String()
}

// templateDashboard returns the Dashboard resource's DashboardBody (a !Sub
// string), the template's resources by type and parameters, and the log
// group the task definition writes to.
func templateDashboard(t *testing.T) (body string, resources map[string]string, params map[string]bool, logGroup string) {
	t.Helper()
	doc := loadTemplate(t)
	resources = map[string]string{}
	res := get(doc, "Resources")
	for i := 0; i+1 < len(res.Content); i += 2 {
		resources[res.Content[i].Value] = get(res.Content[i+1], "Type").Value
	}
	params = map[string]bool{}
	ps := get(doc, "Parameters")
	for i := 0; i+1 < len(ps.Content); i += 2 {
		params[ps.Content[i].Value] = true
	}
	var dash *yaml.Node
	for name, typ := range resources {
		if typ == "AWS::CloudWatch::Dashboard" {
			if dash != nil {
				t.Fatal("more than one AWS::CloudWatch::Dashboard")
			}
			dash = get(res, name, "Properties", "DashboardBody")
		}
	}
	if dash == nil || dash.Tag != "!Sub" || dash.Kind != yaml.ScalarNode {
		t.Fatal("no AWS::CloudWatch::Dashboard with a DashboardBody: !Sub string")
	}
	for _, c := range items(get(res, "TaskDefinition", "Properties", "ContainerDefinitions")) {
		if g := get(c, "LogConfiguration", "Options", "awslogs-group"); g != nil && g.Tag == "!Ref" {
			logGroup = g.Value
		}
	}
	if resources[logGroup] != "AWS::Logs::LogGroup" {
		t.Fatalf("the task's awslogs-group is not a !Ref to a log group of the template (%q)", logGroup)
	}
	return dash.Value, resources, params, logGroup
}

func TestCloudWatchDashboard(t *testing.T) {
	body, resources, params, logGroup := templateDashboard(t)
	src := serviceSource(t)
	// bad makes a broken body from the template's by replacing the first
	// occurrence of old.
	bad := func(old, repl string) string {
		if !strings.Contains(body, old) {
			t.Fatalf("the DashboardBody no longer contains %q: update the test", old)
		}
		return strings.Replace(body, old, repl, 1)
	}
	tests := []struct {
		name string
		body string
		want []string // substrings of the expected problems; none: valid
	}{
		{name: "the template's dashboard", body: body},
		{name: "unknown resource", body: bad("${DeadLetterQueue.QueueName}", "${DeadLetterQueu.QueueName}"),
			want: []string{"no resource DeadLetterQueu"}},
		{name: "unknown namespace", body: bad(`"AWS/SQS", "NumberOfMessagesReceived"`, `"AWS/SQSS", "NumberOfMessagesReceived"`),
			want: []string{`namespace "AWS/SQSS"`}},
		{name: "unknown metric", body: bad(`"ApproximateAgeOfOldestMessage"`, `"ApproximateAgeOfOldestMessages"`),
			want: []string{`AWS/SQS has no metric "ApproximateAgeOfOldestMessages"`}},
		{name: "literal dimension", body: bad(`"${Cluster}"`, `"rootwatch"`),
			want: []string{`"rootwatch" is not a reference`}},
		{name: "dimension of the wrong resource", body: bad(`"${NotificationQueue.QueueName}", {"label": "received"}`, `"${DedupeTable}", {"label": "received"}`),
			want: []string{"DedupeTable is a \"AWS::DynamoDB::Table\", want a AWS::SQS::Queue"}},
		{name: "queue URL instead of name", body: bad(`"${NotificationQueue.QueueName}", {"label": "received"}`, `"${NotificationQueue}", {"label": "received"}`),
			want: []string{`NotificationQueue is referenced as "", want "QueueName"`}},
		{name: "alarm missing", body: bad(`"${QueueAgeAlarm.Arn}"`, `"${NotificationQueue.Arn}"`),
			want: []string{"alarm QueueAgeAlarm is in no alarm widget", "NotificationQueue is a \"AWS::SQS::Queue\", want a AWS::CloudWatch::Alarm"}},
		{name: "other log group", body: bad("SOURCE '${LogGroup}'", "SOURCE '/aws/ecs/other'"),
			want: []string{"query does not start with SOURCE '${LogGroup}'"}},
		{name: "unknown pseudo parameter", body: bad("${AWS::Region}", "${AWS::Regions}"),
			want: []string{"${AWS::Regions}: not a pseudo parameter"}},
		{name: "message not logged", body: bad(`msg = \"message moved to the dead-letter queue\"`, `msg = \"message moved to the dead letter queue\"`),
			want: []string{`the service logs no message "message moved to the dead letter queue"`}},
		{name: "message in a list not logged", body: bad(`\"root posture check could not be made\"`, `\"root posture check could not be done\"`),
			want: []string{`the service logs no message "root posture check could not be done"`}},
		{name: "not JSON", body: bad(`"widgets": [`, `"widgets": [,`), want: []string{"not JSON once substituted"}},
		{name: "off the grid", body: bad(`"x": 16, "y": 5, "width": 8`, `"x": 16, "y": 5, "width": 12`),
			want: []string{"does not fit the 24-column grid"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := checkCloudWatchDashboard(tt.body, resources, params, logGroup, src)
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

// TestContainerInsightsForDashboard: the dashboard's ECS/ContainerInsights
// widgets have data only when the cluster enables Container Insights.
func TestContainerInsightsForDashboard(t *testing.T) {
	body, _, _, _ := templateDashboard(t)
	if !strings.Contains(body, "ECS/ContainerInsights") {
		t.Skip("the dashboard uses no Container Insights metric")
	}
	doc := loadTemplate(t)
	for _, s := range items(get(doc, "Resources", "Cluster", "Properties", "ClusterSettings")) {
		if get(s, "Name").Value == "containerInsights" && slices.Contains([]string{"enabled", "enhanced"}, get(s, "Value").Value) {
			return
		}
	}
	t.Error("the dashboard shows ECS/ContainerInsights metrics but the Cluster does not enable containerInsights")
}
