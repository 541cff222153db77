package rules_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/rootwatch/rootwatch/detector/rules"
)

func TestParseProtect(t *testing.T) {
	const acct = "111122223333"
	tests := []struct {
		spec    string
		want    map[string][]string
		wantErr string
	}{
		{spec: "", want: nil},
		{spec: " , ", want: nil},
		{
			spec: "bucket=acme-trail, bucket=arn:aws:s3:::acme-trail-2,bucket=s3://acme-trail-3/AWSLogs/",
			want: map[string][]string{"bucket": {"acme-trail", "acme-trail-2", "acme-trail-3"}},
		},
		{
			spec: "queue=https://sqs.us-east-1.amazonaws.com/" + acct + "/rw,queue=arn:aws:sqs:us-east-1:" + acct + ":rw,queue=https://queue.amazonaws.com/" + acct + "/rw-dlq",
			want: map[string][]string{"queue": {acct + "/rw", acct + "/rw-dlq"}},
		},
		{
			spec: "rule=rootwatch-events,rule=arn:aws:events:us-east-1:" + acct + ":rule/rw-fast,rule=arn:aws-us-gov:events:us-gov-west-1:" + acct + ":rule/custom-bus/rw-bus",
			want: map[string][]string{"rule": {"rootwatch-events", "rw-fast", "rw-bus"}},
		},
		{
			spec: "key=arn:aws:kms:us-east-1:" + acct + ":key/1234abcd-12ab-34cd-56ef-1234567890ab,key=mrk-1234abcd12ab34cd56ef1234567890ab",
			want: map[string][]string{"key": {"1234abcd-12ab-34cd-56ef-1234567890ab", "mrk-1234abcd12ab34cd56ef1234567890ab"}},
		},
		{spec: "admins=10.0.0.0/8, admins = a*b", want: map[string][]string{"admins": {"10.0.0.0/8", "a*b"}}},
		{spec: "bucket", wantErr: `"bucket": want name=value`},
		{spec: "bucket=", wantErr: `want name=value`},
		{spec: "bad name=x", wantErr: `invalid name "bad name"`},
		{spec: "bucket=arn:aws:s3:::b/key", wantErr: "want a bucket name"},
		{spec: "queue=rootwatch", wantErr: "want the queue URL"},
		{spec: "queue=https://sqs.us-east-1.amazonaws.com/rootwatch", wantErr: "path must be /ACCOUNT/NAME"},
		{spec: "queue=arn:aws:sns:us-east-1:" + acct + ":t", wantErr: "want a queue ARN"},
		{spec: "rule=arn:aws:events:us-east-1:" + acct + ":event-bus/default", wantErr: "want an EventBridge rule ARN"},
		{spec: "key=alias/rootwatch", wantErr: "aliases cannot be matched"},
		{spec: "key=arn:aws:kms:us-east-1:" + acct + ":alias/rootwatch", wantErr: "aliases cannot be matched"},
		{spec: "key=short", wantErr: "want a KMS key ARN or key id"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := rules.ParseProtect(tt.spec)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "protect: ") {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// FuzzParseProtect checks that ParseProtect never panics, that what it
// accepts has valid names and non-empty values without commas or wildcards
// for the four resource kinds, and that the normalised bucket, rule and
// key values parse back to themselves.
func FuzzParseProtect(f *testing.F) {
	for _, s := range []string{
		"bucket=acme-trail,queue=https://sqs.us-east-1.amazonaws.com/111122223333/rw,rule=rw,key=arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
		"queue=arn:aws:sqs:us-east-1:111122223333:rw", "bucket=s3://b/p", "key=alias/x", "x=y=z", "=", ",,",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		ph, err := rules.ParseProtect(spec)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "protect: ") {
				t.Fatalf("error %q lacks the prefix", err)
			}
			return
		}
		for name, vals := range ph {
			if len(vals) == 0 {
				t.Fatalf("%s: no values", name)
			}
			for _, v := range vals {
				if v == "" || strings.Contains(v, ",") {
					t.Fatalf("%s: value %q", name, v)
				}
				switch name {
				case "bucket", "rule", "key":
					if strings.ContainsAny(v, "/:*?") {
						t.Fatalf("%s: value %q", name, v)
					}
					again, err := rules.ParseProtect(name + "=" + v)
					if err != nil || len(again[name]) != 1 || again[name][0] != v {
						t.Fatalf("%s=%s parses to %q, %v", name, v, again, err)
					}
				}
			}
		}
	})
}
