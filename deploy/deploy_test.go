// Package deploy_test checks the deployment artefacts (Dockerfile,
// .dockerignore, CloudFormation template) for the properties the service
// relies on: exact base images, a small build context, least-privilege IAM,
// alarms and a health check that fails when the service cannot work.
package deploy_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const templatePath = "cloudformation/rootwatch.yml"

// loadTemplate parses the CloudFormation template into yaml.v3 nodes, which
// keep the short-form intrinsic tags (!Ref, !GetAtt, !Sub, !If) as node tags.
func loadTemplate(t *testing.T) *yaml.Node {
	t.Helper()
	b, err := os.ReadFile(templatePath)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", templatePath, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		t.Fatalf("%s: not one YAML document", templatePath)
	}
	return doc.Content[0]
}

// get walks mapping keys; nil when a key is missing.
func get(n *yaml.Node, path ...string) *yaml.Node {
	for _, k := range path {
		if n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				next = n.Content[i+1]
				break
			}
		}
		n = next
	}
	return n
}

// items returns a sequence's elements, or the node itself when it is a
// scalar or a mapping (IAM accepts a single value for a list).
func items(n *yaml.Node) []*yaml.Node {
	if n == nil {
		return nil
	}
	if n.Kind == yaml.SequenceNode && n.Tag != "!If" {
		return n.Content
	}
	return []*yaml.Node{n}
}

// unIf resolves `!If [cond, value, !Ref AWS::NoValue]` to value (the branch
// a deployment with the condition true gets); other nodes pass through.
func unIf(n *yaml.Node) *yaml.Node {
	if n != nil && n.Tag == "!If" && len(n.Content) == 3 {
		return n.Content[1]
	}
	return n
}

// statement is one IAM policy statement of the template.
type statement struct {
	where   string
	node    *yaml.Node
	actions []string
}

func statements(t *testing.T, doc *yaml.Node, stmtList *yaml.Node, where string) []statement {
	t.Helper()
	var out []statement
	for _, s := range items(stmtList) {
		s = unIf(s)
		if s.Kind != yaml.MappingNode {
			t.Fatalf("%s: statement is not a mapping (line %d)", where, s.Line)
		}
		st := statement{where: where, node: s}
		for _, a := range items(get(s, "Action")) {
			st.actions = append(st.actions, a.Value)
		}
		out = append(out, st)
	}
	return out
}

func taskRoleStatements(t *testing.T, doc *yaml.Node) []statement {
	t.Helper()
	role := get(doc, "Resources", "TaskRole", "Properties")
	if role == nil {
		t.Fatal("no TaskRole resource")
	}
	var out []statement
	for _, p := range items(get(role, "Policies")) {
		out = append(out, statements(t, doc, get(p, "PolicyDocument", "Statement"), "TaskRole/"+get(p, "PolicyName").Value)...)
	}
	return out
}

// taskRoleActions is every action the task role must grant, and why: the
// AWS calls rootwatch makes (grep the code for the API interfaces:
// ingest/queue.API, ingest/s3object.API, ingest/trailhealth.API, the DynamoDB APIs of notify/dedupe, notify/burst and detector/attribution). An
// action the code does not use must not be granted; an action the code
// uses must be listed here.
var taskRoleActions = map[string]string{
	"sqs:ReceiveMessage":           "ingest/queue: the long poll",
	"sqs:DeleteMessage":            "ingest/queue: DeleteMessageBatch after a message is fully handled (authorized as sqs:DeleteMessage)",
	"sqs:ChangeMessageVisibility":  "ingest/queue: ChangeMessageVisibilityBatch for the heartbeat and retry releases",
	"sqs:GetQueueAttributes":       "ingest/queue: the start-up access check (CheckAccess), and reading the queue's RedrivePolicy",
	"sqs:SendMessage":              "dead-letter queue only: a permanently failed message is sent there with its reason (issue 7 item 7)",
	"sqs:GetQueueUrl":              "dead-letter queue only: its URL from the RedrivePolicy's ARN (issue 7 item 7)",
	"s3:GetObject":                 "ingest/s3object: streaming the CloudTrail log objects",
	"s3:ListBucket":                "ingest/backfill.GapFiller (ingest/s3scan): listing a closed log gap's objects (ROOTWATCH_GAP_FILL), under [PREFIX/]AWSLogs/ only",
	"dynamodb:PutItem":             "notify/dedupe: conditional claim and mark-delivered",
	"dynamodb:GetItem":             "notify/dedupe: reading a contended claim",
	"dynamodb:DeleteItem":          "notify/dedupe: releasing a claim after a failed send; notify/burst: releasing or forgetting a thread claim",
	"dynamodb:UpdateItem":          "detector/attribution: appending an unlinked assumed-root alert to its session's waiting list; notify/burst: joining an open burst (atomic ADD of its count)",
	"kms:Decrypt":                  "SSE-KMS CloudTrail objects, through S3 only (kms:ViaService)",
	"cloudtrail:DescribeTrails":    "ingest/trailhealth: the trail's settings (ROOTWATCH_TRAILS)",
	"cloudtrail:GetTrailStatus":    "ingest/trailhealth: logging on, delivery errors and times",
	"cloudtrail:GetEventSelectors": "ingest/trailhealth: management events selected",
	"cloudtrail:LookupEvents":      "ingest/lookup: the start-up backfill (ROOTWATCH_BACKFILL_ON_START); no resource-level permissions",
	"dynamodb:Scan":                "ingest/watchdog: loading the log-flow watchdog's state items at start-up; notify/expect: reading the declarations of planned root use (expect#...)",
	// ingest/posture: the root posture audit (ROOTWATCH_AUDIT_INTERVAL), read-only.
	"iam:GetAccountSummary":              "ingest/posture: root MFA, root keys and certificates present",
	"iam:GenerateCredentialReport":       "ingest/posture: the credential report (root keys' dates, root's last use)",
	"iam:GetCredentialReport":            "ingest/posture: the credential report's root row",
	"iam:ListVirtualMFADevices":          "ingest/posture: whether root's MFA device is a virtual one",
	"account:GetAlternateContact":        "ingest/posture: the security contact (SECURITY only)",
	"organizations:DescribeAccount":      "ingest/posture: this account's root e-mail (audit without ROOTWATCH_ORG)",
	"organizations:DescribeOrganization": "ingest/posture: the organization audited (ROOTWATCH_ORG)",
	"organizations:ListAccounts":         "ingest/posture: the organization's accounts and root e-mails (ROOTWATCH_ORG)",
	"iam:ListOrganizationsFeatures":      "ingest/posture: centralized root access features (ROOTWATCH_ORG)",
	"sts:AssumeRoot":                     "ingest/posture: member roots through IAMAuditRootUserCredentials sessions (ROOTWATCH_ORG)",
	"sts:AssumeRole":                     "ingest/posture: ROOTWATCH_MEMBER_ROLE, where AssumeRoot is not possible",
	"sns:Publish":                        "notify/sns: publishing alerts to the SnsTopicArn topic (ROOTWATCH_SNS_TOPIC_ARN), only when it is set",
}

func TestTaskRoleGrantsExactlyWhatTheCodeUses(t *testing.T) {
	doc := loadTemplate(t)
	granted := map[string]bool{}
	for _, st := range taskRoleStatements(t, doc) {
		for _, a := range st.actions {
			granted[a] = true
		}
	}
	var extra, missing []string
	for a := range granted {
		if _, ok := taskRoleActions[a]; !ok {
			extra = append(extra, a)
		}
	}
	for a := range taskRoleActions {
		if !granted[a] {
			missing = append(missing, a)
		}
	}
	sort.Strings(extra)
	sort.Strings(missing)
	if len(extra) > 0 {
		t.Errorf("task role grants actions the code never uses: %v", extra)
	}
	if len(missing) > 0 {
		t.Errorf("task role lacks actions the code uses: %v", missing)
	}
}

// resourceRef renders a Resource node: "!GetAtt X.Arn", "!Ref X", a plain
// string, or the !Sub template.
func resourceRef(n *yaml.Node) []string {
	var out []string
	for _, r := range items(n) {
		r = unIf(r)
		if r.Tag != "" && !strings.HasPrefix(r.Tag, "!!") {
			out = append(out, r.Tag+" "+r.Value)
			continue
		}
		out = append(out, r.Value)
	}
	return out
}

func TestTaskRoleStatementScopes(t *testing.T) {
	doc := loadTemplate(t)
	sts := taskRoleStatements(t, doc)
	tests := []struct {
		action    string
		resources []string
		condition []string // path under Condition that must exist
		condHas   string   // and a text its value holds
	}{
		{action: "sqs:ReceiveMessage", resources: []string{"!GetAtt NotificationQueue.Arn"}},
		{action: "sqs:SendMessage", resources: []string{"!GetAtt DeadLetterQueue.Arn"}},
		{action: "sqs:GetQueueUrl", resources: []string{"!GetAtt DeadLetterQueue.Arn"}},
		{action: "s3:GetObject", resources: []string{"!Sub arn:${AWS::Partition}:s3:::${TrailBucketName}/*AWSLogs/*"}},
		{action: "s3:ListBucket", resources: []string{"!Sub arn:${AWS::Partition}:s3:::${TrailBucketName}"}, condition: []string{"StringLike", "s3:prefix"}, condHas: "*AWSLogs/*"},
		{action: "dynamodb:PutItem", resources: []string{"!GetAtt DedupeTable.Arn"}},
		{action: "kms:Decrypt", resources: []string{"!Ref TrailKmsKeyArn"}, condition: []string{"StringEquals", "kms:ViaService"}, condHas: "s3.${AWS::Region}.amazonaws.com"},
		{action: "cloudtrail:GetTrailStatus", resources: []string{"*"}},
		{action: "sns:Publish", resources: []string{"!Ref SnsTopicArn"}},
	}
	for _, tt := range tests {
		t.Run(tt.action, func(t *testing.T) {
			var found []statement
			for _, st := range sts {
				if slices.Contains(st.actions, tt.action) {
					found = append(found, st)
				}
			}
			if len(found) != 1 {
				t.Fatalf("%d statements grant %s, want 1", len(found), tt.action)
			}
			st := found[0]
			if got := resourceRef(get(st.node, "Resource")); !slices.Equal(got, tt.resources) {
				t.Errorf("%s: Resource = %q, want %q", tt.action, got, tt.resources)
			}
			if tt.condition != nil {
				c := get(st.node, append([]string{"Condition"}, tt.condition...)...)
				if c == nil {
					t.Errorf("%s: no Condition %s", tt.action, strings.Join(tt.condition, "/"))
				} else if !strings.Contains(c.Value, tt.condHas) {
					t.Errorf("%s: Condition %s = %s %q, want it to hold %q", tt.action, strings.Join(tt.condition, "/"), c.Tag, c.Value, tt.condHas)
				}
			}
		})
	}
}

// TestSNSTopicOnlyWhenSet checks that sns:Publish is granted, and the
// topic passed to the container, only under the HasSnsTopic condition
// (SnsTopicArn set).
func TestSNSTopicOnlyWhenSet(t *testing.T) {
	doc := loadTemplate(t)
	if p := get(doc, "Parameters", "SnsTopicArn", "Default"); p == nil || p.Value != "" {
		t.Fatal("SnsTopicArn parameter missing or not empty by default")
	}
	granted := 0
	for _, p := range items(get(doc, "Resources", "TaskRole", "Properties", "Policies")) {
		for _, s := range items(get(p, "PolicyDocument", "Statement")) {
			if strings.Contains(nodeText(s), "sns:Publish") {
				granted++
				if s.Tag != "!If" || s.Content[0].Value != "HasSnsTopic" || s.Content[2].Value != "AWS::NoValue" {
					t.Errorf("sns:Publish granted outside !If HasSnsTopic (line %d)", s.Line)
				}
			}
		}
	}
	if granted != 1 {
		t.Errorf("%d statements grant sns:Publish, want 1", granted)
	}
	passed := 0
	for _, c := range items(get(doc, "Resources", "TaskDefinition", "Properties", "ContainerDefinitions")) {
		for _, e := range items(get(c, "Environment")) {
			if strings.Contains(nodeText(e), "ROOTWATCH_SNS_TOPIC_ARN") {
				passed++
				if e.Tag != "!If" || e.Content[0].Value != "HasSnsTopic" || get(e.Content[1], "Value").Value != "SnsTopicArn" {
					t.Errorf("ROOTWATCH_SNS_TOPIC_ARN not passed as !If HasSnsTopic !Ref SnsTopicArn (line %d)", e.Line)
				}
			}
		}
	}
	if passed != 1 {
		t.Errorf("ROOTWATCH_SNS_TOPIC_ARN passed %d times, want 1", passed)
	}
}

// nodeText is every scalar under n, space-separated.
func nodeText(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode {
		return n.Value
	}
	var parts []string
	for _, c := range n.Content {
		parts = append(parts, nodeText(c))
	}
	return strings.Join(parts, " ")
}

func TestQueuePolicyS3StatementPinsSourceAccount(t *testing.T) {
	doc := loadTemplate(t)
	sts := statements(t, doc, get(doc, "Resources", "NotificationQueuePolicy", "Properties", "PolicyDocument", "Statement"), "NotificationQueuePolicy")
	n := 0
	for _, st := range sts {
		if get(st.node, "Principal", "Service").Value != "s3.amazonaws.com" {
			continue
		}
		n++
		if get(st.node, "Condition", "ArnLike", "aws:SourceArn") == nil {
			t.Error("S3 statement: no aws:SourceArn condition")
		}
		if get(st.node, "Condition", "StringEquals", "aws:SourceAccount") == nil {
			t.Error("S3 statement: no aws:SourceAccount condition (a bucket name can be re-created in another account)")
		}
	}
	if n != 1 {
		t.Fatalf("%d queue policy statements for s3.amazonaws.com, want 1", n)
	}
}

func TestQueueAgeAlarm(t *testing.T) {
	doc := loadTemplate(t)
	res := get(doc, "Resources")
	var found bool
	for i := 0; i+1 < len(res.Content); i += 2 {
		r := res.Content[i+1]
		if get(r, "Type").Value != "AWS::CloudWatch::Alarm" || get(r, "Properties", "MetricName").Value != "ApproximateAgeOfOldestMessage" {
			continue
		}
		found = true
		dims := items(get(r, "Properties", "Dimensions"))
		if len(dims) != 1 || get(dims[0], "Name").Value != "QueueName" || get(dims[0], "Value").Tag+" "+get(dims[0], "Value").Value != "!GetAtt NotificationQueue.QueueName" {
			t.Errorf("%s: alarm is not on the notification queue", res.Content[i].Value)
		}
		if get(r, "Properties", "AlarmActions") == nil {
			t.Errorf("%s: no AlarmActions", res.Content[i].Value)
		}
	}
	if !found {
		t.Fatal("no ApproximateAgeOfOldestMessage alarm: a stalled consumer (messages never received) would go unnoticed")
	}
}

// TestContainerHealthCheck: the container health check is the binary's
// healthcheck subcommand (distroless has no shell or curl), which checks
// /readyz, so ECS replaces a task that cannot read its queue.
func TestContainerHealthCheck(t *testing.T) {
	doc := loadTemplate(t)
	var cmd []string
	for _, c := range items(get(doc, "Resources", "TaskDefinition", "Properties", "ContainerDefinitions")) {
		for _, a := range items(get(c, "HealthCheck", "Command")) {
			cmd = append(cmd, a.Value)
		}
	}
	want := []string{"CMD", "/usr/local/bin/rootwatch", "healthcheck"}
	if !slices.Equal(cmd, want) {
		t.Errorf("HealthCheck.Command = %q, want %q", cmd, want)
	}
}

func TestCfnLint(t *testing.T) {
	if testing.Short() {
		t.Skip("cfn-lint: skipped with -short")
	}
	bin, err := exec.LookPath("cfn-lint")
	if err != nil {
		if os.Getenv("ROOTWATCH_REQUIRE_EMULATORS") != "" {
			t.Fatal("cfn-lint is not on PATH")
		}
		t.Skip("cfn-lint is not on PATH")
	}
	out, err := exec.Command(bin, templatePath).CombinedOutput()
	if err != nil {
		t.Fatalf("cfn-lint %s: %v\n%s", templatePath, err, out)
	}
}

var (
	goImage      = regexp.MustCompile(`^golang:(\d+\.\d+\.\d+)-bookworm(@sha256:[0-9a-f]{64})?$`)
	runtimeImage = regexp.MustCompile(`^gcr\.io/distroless/static-debian12:nonroot(@sha256:[0-9a-f]{64})?$`)
	goDirective  = regexp.MustCompile(`(?m)^go (\d+\.\d+\.\d+)$`)
)

// TestDockerfileBaseImagesExact: every FROM names an exact version: the Go
// toolchain of go.mod's go directive on bookworm, and the distroless
// static image by its nonroot tag (a release pins its digest, see
// deploy/docs/deploy.md); never latest or a floating minor tag.
func TestDockerfileBaseImagesExact(t *testing.T) {
	b, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	mod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := goDirective.FindSubmatch(mod)
	if m == nil {
		t.Fatal("go.mod: no go directive with a patch version")
	}
	goVersion := string(m[1])
	args := map[string]string{}
	var froms []string
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && strings.EqualFold(f[0], "ARG") {
			if k, v, ok := strings.Cut(f[1], "="); ok {
				args[k] = v
			}
		}
		if len(f) >= 2 && strings.EqualFold(f[0], "FROM") {
			img := os.Expand(f[1], func(k string) string { return args[k] })
			froms = append(froms, img)
		}
	}
	if len(froms) != 2 {
		t.Fatalf("Dockerfile has %d FROM lines, want 2 (build, runtime): %q", len(froms), froms)
	}
	if m := goImage.FindStringSubmatch(froms[0]); m == nil {
		t.Errorf("build stage FROM %q: want golang:X.Y.Z-bookworm (exact patch version)", froms[0])
	} else if m[1] != goVersion {
		t.Errorf("build stage FROM %q: Go %s, but go.mod says go %s", froms[0], m[1], goVersion)
	}
	if !runtimeImage.MatchString(froms[1]) {
		t.Errorf("runtime stage FROM %q: want gcr.io/distroless/static-debian12:nonroot[@sha256:...]", froms[1])
	}
	for _, f := range froms {
		if strings.Contains(f, ":latest") || !strings.Contains(f, ":") {
			t.Errorf("FROM %q: floating tag", f)
		}
	}
}

// TestDockerignore: the build context holds sources only: no .git, no
// compiled binaries, no test data or tool caches.
func TestDockerignore(t *testing.T) {
	b, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatalf(".dockerignore: %v", err)
	}
	var patterns []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			patterns = append(patterns, l)
		}
	}
	excluded := func(path string) bool {
		out := false
		for _, p := range patterns {
			neg := strings.HasPrefix(p, "!")
			p = strings.TrimPrefix(strings.TrimPrefix(p, "!"), "/")
			if matchDockerignore(p, path) {
				out = !neg
			}
		}
		return out
	}
	tests := []struct {
		path string
		want bool
	}{
		{".git", true},
		{".git/HEAD", true},
		{"cmd/rootwatch/rootwatch", true},
		{"rootwatch", true},
		{"ingest/queue/queue.test", true},
		{"ingest/cloudtrail/testdata/log-root.json.gz", true},
		{"testdata/sample/AWSLogs/x.json.gz", true},
		{".tools/node_modules/x", true},
		// What the build needs.
		{"go.mod", false},
		{"go.sum", false},
		{"cmd/rootwatch/main.go", false},
		{"detector/rules/builtin/root-api-call.yml", false},
		{"detector/rules/builtin/tests/root-api-call.yml", false},
	}
	for _, tt := range tests {
		if got := excluded(tt.path); got != tt.want {
			t.Errorf("%s excluded from the build context = %t, want %t", tt.path, got, tt.want)
		}
	}
}

// matchDockerignore is Docker's .dockerignore matching, enough for the
// patterns used: filepath.Match per path segment with ** for any number of
// segments; a pattern matching a directory excludes what is under it.
func matchDockerignore(pattern, path string) bool {
	pp := strings.Split(pattern, "/")
	sp := strings.Split(path, "/")
	var match func(i, j int) bool
	match = func(i, j int) bool {
		if i == len(pp) {
			return true // a directory match covers everything under it
		}
		if j == len(sp) {
			return false
		}
		if pp[i] == "**" {
			for k := j; k <= len(sp); k++ {
				if match(i+1, k) {
					return true
				}
			}
			return false
		}
		ok, _ := filepath.Match(pp[i], sp[j])
		return ok && match(i+1, j+1)
	}
	return match(0, 0)
}

// TestNoCompiledBinaryInGit: the repository holds no build output.
func TestNoCompiledBinaryInGit(t *testing.T) {
	git, err := exec.LookPath("git")
	if err != nil {
		t.Skip("git is not on PATH")
	}
	out, err := exec.Command(git, "-C", "..", "ls-files", "-z").Output()
	if err != nil {
		t.Skipf("not a git checkout: %v", err)
	}
	for _, f := range strings.Split(string(out), "\x00") {
		if f == "" {
			continue
		}
		fi, err := os.Stat(filepath.Join("..", f))
		if err != nil || fi.IsDir() {
			continue
		}
		head := make([]byte, 4)
		fh, err := os.Open(filepath.Join("..", f))
		if err != nil {
			continue
		}
		n, _ := fh.Read(head)
		fh.Close()
		if n == 4 && string(head) == "\x7fELF" {
			t.Errorf("%s: a compiled binary is tracked by git (%d bytes)", f, fi.Size())
		}
	}
	gi, err := os.ReadFile("../.gitignore")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(strings.Fields(string(gi)), "/cmd/rootwatch/rootwatch") {
		t.Error(".gitignore does not ignore /cmd/rootwatch/rootwatch")
	}
}
