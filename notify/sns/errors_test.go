package sns

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/notify"
)

// snsServer is an httptest server speaking the SNS query protocol: it
// checks each request is a Publish to the topic and answers with status
// and body.
type snsServer struct {
	*httptest.Server
	calls atomic.Int32
	form  atomic.Value // url.Values of the last request
}

func newSNSServer(t *testing.T, status int, body string) *snsServer {
	t.Helper()
	s := &snsServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.calls.Add(1)
		if err := r.ParseForm(); err != nil {
			t.Errorf("parse form: %v", err)
		}
		s.form.Store(r.PostForm)
		if r.PostForm.Get("Action") != "Publish" {
			t.Errorf("action %q", r.PostForm.Get("Action"))
		}
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(s.Close)
	return s
}

// queryError is an SNS query-protocol error response.
func queryError(typ, code, msg string) string {
	return fmt.Sprintf(`<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>9b3e0c2c-1111-2222-3333-444455556666</RequestId></ErrorResponse>`, typ, code, msg)
}

const publishOK = `<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>94f20ce6-13c5-43a0-9a9e-ca52d816e90b</MessageId></PublishResult><ResponseMetadata><RequestId>f187a3c1-376f-11df-8963-01868b7c937a</RequestId></ResponseMetadata></PublishResponse>`

// awsConfig is an SDK configuration pointed at endpoint with static
// credentials whose secret must never show in an error.
func awsConfig(endpoint string) aws.Config {
	return aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIAEXAMPLEKEYID", "s3cretAccessKeyNeverShown", ""),
		BaseEndpoint: aws.String(endpoint),
	}
}

func sinkAt(t *testing.T, endpoint string) *Sink {
	t.Helper()
	arn := "arn:aws:sns:us-east-1:123456789012:alerts"
	topic, _ := ParseTopicARN(arn)
	s, err := New(Config{TopicARN: arn, Timeout: 30 * time.Second}, NewClient(awsConfig(endpoint), topic))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestErrorClasses publishes with the real SDK client to a server
// answering as SNS does, and checks the class of each failure and that
// the SDK did not retry on its own (the Dispatcher does).
func TestErrorClasses(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		body       string
		wantErr    bool
		permanent  bool
		wantInText string
	}{
		{name: "accepted", status: 200, body: publishOK},
		{name: "throttled", status: 400, body: queryError("Sender", "Throttled", "Rate exceeded"), wantErr: true, wantInText: "Throttled (Rate exceeded)"},
		{name: "throttled 429", status: 429, body: queryError("Sender", "Throttling", "Rate exceeded"), wantErr: true, wantInText: "Throttling"},
		{name: "KMS throttling", status: 400, body: queryError("Sender", "KMSThrottling", "slow down"), wantErr: true, wantInText: "KMSThrottling"},
		{name: "internal error", status: 500, body: queryError("Receiver", "InternalError", "oops"), wantErr: true, wantInText: "InternalError"},
		{name: "bare 500", status: 500, body: "<html>bad gateway</html>", wantErr: true, wantInText: "500"},
		{name: "503 unknown code", status: 503, body: queryError("Receiver", "SomethingNew", "later"), wantErr: true, wantInText: "HTTP 503"},
		{name: "authorization", status: 403, body: queryError("Sender", "AuthorizationError", "User is not authorized to perform: SNS:Publish"), wantErr: true, permanent: true, wantInText: "AuthorizationError"},
		{name: "not found", status: 404, body: queryError("Sender", "NotFound", "Topic does not exist"), wantErr: true, permanent: true, wantInText: "NotFound (Topic does not exist)"},
		{name: "invalid parameter", status: 400, body: queryError("Sender", "InvalidParameter", "Invalid parameter: Subject"), wantErr: true, permanent: true, wantInText: "InvalidParameter"},
		{name: "KMS disabled", status: 400, body: queryError("Sender", "KMSDisabled", "key disabled"), wantErr: true, permanent: true, wantInText: "KMSDisabled"},
		{name: "unknown 400 code", status: 400, body: queryError("Sender", "SomethingNew", "no"), wantErr: true, permanent: true, wantInText: "HTTP 400"},
		{name: "no message id", status: 200, body: `<PublishResponse><PublishResult></PublishResult></PublishResponse>`, wantErr: true, wantInText: "without a message id"},
	}
	a := alert(detector.Detection{Rule: "r", EventID: "e", Level: detector.LevelHigh, AccountID: "111122223333"})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newSNSServer(t, tt.status, tt.body)
			err := sinkAt(t, srv.URL).Send(context.Background(), a)
			if got := srv.calls.Load(); got != 1 {
				t.Errorf("%d calls, want 1 (no SDK retries)", got)
			}
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("Send: %v", err)
				}
				form := srv.form.Load().(url.Values)
				if form.Get("TopicArn") != "arn:aws:sns:us-east-1:123456789012:alerts" || form.Get("Subject") == "" ||
					form.Get("MessageAttributes.entry.1.Name") == "" {
					t.Errorf("request %v", form)
				}
				return
			}
			if err == nil {
				t.Fatal("Send succeeded")
			}
			if notify.IsPermanent(err) != tt.permanent {
				t.Errorf("permanent = %v, want %v: %v", notify.IsPermanent(err), tt.permanent, err)
			}
			if !strings.Contains(err.Error(), tt.wantInText) {
				t.Errorf("error %q lacks %q", err, tt.wantInText)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("secret in error %q", err)
			}
		})
	}
}

// TestNetworkErrorsAreRetryable checks that a call with no answer (the
// server is gone) or cut by the caller's timeout is retryable.
func TestNetworkErrorsAreRetryable(t *testing.T) {
	a := alert(detector.Detection{Rule: "r", EventID: "e"})
	srv := httptest.NewServer(http.NotFoundHandler())
	endpoint := srv.URL
	srv.Close()
	err := sinkAt(t, endpoint).Send(context.Background(), a)
	if err == nil || notify.IsPermanent(err) || !strings.Contains(err.Error(), "request failed") {
		t.Errorf("server gone: %v", err)
	}

	block := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-block }))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(block) })
	s := sinkAt(t, slow.URL)
	s.cfg.Timeout = 50 * time.Millisecond
	err = s.Send(context.Background(), a)
	if err == nil || notify.IsPermanent(err) || !strings.Contains(err.Error(), "timed out") {
		t.Errorf("timeout: %v", err)
	}
}
