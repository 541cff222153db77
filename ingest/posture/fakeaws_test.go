package posture

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/rootwatch/rootwatch/internal/mototest"
)

func TestMain(m *testing.M) { os.Exit(mototest.Main(m)) }

// memberRoot is a member account's root user as the fake IAM shows it to
// an sts:AssumeRoot session.
type memberRoot struct {
	password bool
	keys     []string // active access key ids
	mfa      []string // MFA serial numbers
	certs    int
	lastUsed time.Time // password last used (zero: never)
}

// fakeAWS stands in where moto cannot: sts:AssumeRoot and the IAM calls
// of its root sessions, IAM ListOrganizationsFeatures, and root state
// moto does not model (AccountMFAEnabled and root access keys are always
// 0 in moto, its credential report has no <root_account> row). It speaks
// the AWS query protocol (XML) to the real SDK clients; every other call
// is forwarded to moto unchanged.
type fakeAWS struct {
	moto   *mototest.Server
	iamURL string
	stsURL string

	mu         sync.Mutex
	summary    map[string]int // GetAccountSummary override (nil: moto's)
	report     string         // credential report override ("" : moto's)
	features   []string       // ListOrganizationsFeatures EnabledFeatures
	members    map[string]*memberRoot
	denyRoot   map[string]bool // AssumeRoot refused for these accounts
	denyIAM    map[string]bool // caller IAM actions refused
	throttle   map[string]int  // caller IAM actions throttled this many more times
	policies   map[string]int  // AssumeRoot task policies seen
	assumeRoot int
}

const (
	iamNS = "https://iam.amazonaws.com/doc/2010-05-08/"
	stsNS = "https://sts.amazonaws.com/doc/2011-06-15/"
	// rootKeyPrefix marks the fake's AssumeRoot access key ids; the
	// member account id follows it.
	rootKeyPrefix = "ASIAROOT"
)

var credRE = regexp.MustCompile(`Credential=([A-Z0-9]+)/`)

// newFakeAWS resets moto and starts the fake, pointing the SDK's
// environment at it (IAM, STS) and at moto (Organizations, Account,
// CloudTrail).
func newFakeAWS(t *testing.T) *fakeAWS {
	t.Helper()
	srv := mototest.Require(t)
	resp, err := http.Post(srv.Endpoint+"/moto-api/reset", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	f := &fakeAWS{moto: srv, members: map[string]*memberRoot{}, denyRoot: map[string]bool{},
		denyIAM: map[string]bool{}, throttle: map[string]int{}, policies: map[string]int{}}
	target, _ := url.Parse(srv.Endpoint)
	proxy := httputil.NewSingleHostReverseProxy(target)
	iamSrv := httptest.NewServer(f.handler(proxy, f.iam))
	stsSrv := httptest.NewServer(f.handler(proxy, f.sts))
	t.Cleanup(iamSrv.Close)
	t.Cleanup(stsSrv.Close)
	f.iamURL, f.stsURL = iamSrv.URL, stsSrv.URL
	t.Setenv("AWS_ENDPOINT_URL_IAM", iamSrv.URL)
	t.Setenv("AWS_ENDPOINT_URL_STS", stsSrv.URL)
	for _, s := range []string{"ORGANIZATIONS", "ACCOUNT", "CLOUDTRAIL", "S3"} {
		t.Setenv("AWS_ENDPOINT_URL_"+s, srv.Endpoint)
	}
	return f
}

// config is the caller's AWS configuration, built the way the command
// builds it (LoadDefaultConfig, endpoints from the environment).
func (f *fakeAWS) config(t *testing.T) aws.Config {
	t.Helper()
	cfg, err := config.LoadDefaultConfig(context.Background(), config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// handler answers what serve handles and forwards the rest to moto.
func (f *fakeAWS) handler(proxy *httputil.ReverseProxy, serve func(w http.ResponseWriter, key string, form url.Values) bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(body))
		key := ""
		if m := credRE.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
			key = m[1]
		}
		if serve(w, key, form) {
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		proxy.ServeHTTP(w, r)
	})
}

func writeXML(w http.ResponseWriter, ns, action, result string) {
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, `<%sResponse xmlns="%s"><%sResult>%s</%sResult><ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata></%sResponse>`,
		action, ns, action, result, action, action)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<ErrorResponse><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>req-1</RequestId></ErrorResponse>`, code, msg)
}

func (f *fakeAWS) iam(w http.ResponseWriter, key string, form url.Values) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	action := form.Get("Action")
	if acct, ok := strings.CutPrefix(key, rootKeyPrefix); ok {
		f.memberIAM(w, acct, action, form)
		return true
	}
	if f.denyIAM[action] {
		writeError(w, 403, "AccessDenied", fmt.Sprintf("User: arn:aws:iam::123456789012:user/auditor is not authorized to perform: iam:%s on resource: * because no identity-based policy allows the iam:%s action", action, action))
		return true
	}
	if f.throttle[action] > 0 {
		f.throttle[action]--
		writeError(w, 400, "Throttling", "Rate exceeded")
		return true
	}
	switch action {
	case "ListOrganizationsFeatures":
		var b strings.Builder
		for _, ft := range f.features {
			b.WriteString("<member>" + ft + "</member>")
		}
		writeXML(w, iamNS, action, "<OrganizationId>o-exampleorg1</OrganizationId><EnabledFeatures>"+b.String()+"</EnabledFeatures>")
		return true
	case "GetAccountSummary":
		if f.summary == nil {
			return false
		}
		var b strings.Builder
		for k, v := range f.summary {
			fmt.Fprintf(&b, "<entry><key>%s</key><value>%d</value></entry>", k, v)
		}
		writeXML(w, iamNS, action, "<SummaryMap>"+b.String()+"</SummaryMap>")
		return true
	case "GenerateCredentialReport":
		if f.report == "" {
			return false
		}
		writeXML(w, iamNS, action, "<State>COMPLETE</State><Description>done</Description>")
		return true
	case "GetCredentialReport":
		if f.report == "" {
			return false
		}
		writeXML(w, iamNS, action, "<Content>"+base64.StdEncoding.EncodeToString([]byte(f.report))+
			"</Content><ReportFormat>text/csv</ReportFormat><GeneratedTime>2026-06-01T00:00:00Z</GeneratedTime>")
		return true
	}
	return false
}

// memberIAM answers the calls of an AssumeRoot session in acct (no
// UserName: the root user).
func (f *fakeAWS) memberIAM(w http.ResponseWriter, acct, action string, form url.Values) {
	m := f.members[acct]
	if m == nil {
		m = &memberRoot{}
	}
	if form.Get("UserName") != "" {
		writeError(w, 403, "AccessDenied", "root sessions act on the root user only")
		return
	}
	switch action {
	case "GetLoginProfile":
		if !m.password {
			writeError(w, 404, "NoSuchEntity", "Login Profile for User root cannot be found.")
			return
		}
		writeXML(w, iamNS, action, "<LoginProfile><UserName>root</UserName><CreateDate>2024-01-01T00:00:00Z</CreateDate></LoginProfile>")
	case "ListAccessKeys":
		var b strings.Builder
		for _, k := range m.keys {
			fmt.Fprintf(&b, "<member><AccessKeyId>%s</AccessKeyId><Status>Active</Status><CreateDate>2024-01-01T00:00:00Z</CreateDate></member>", k)
		}
		writeXML(w, iamNS, action, "<AccessKeyMetadata>"+b.String()+"</AccessKeyMetadata><IsTruncated>false</IsTruncated>")
	case "GetAccessKeyLastUsed":
		writeXML(w, iamNS, action, "<AccessKeyLastUsed><LastUsedDate>2024-02-01T00:00:00Z</LastUsedDate><ServiceName>s3</ServiceName><Region>us-east-1</Region></AccessKeyLastUsed>")
	case "ListMFADevices":
		var b strings.Builder
		for _, s := range m.mfa {
			fmt.Fprintf(&b, "<member><SerialNumber>%s</SerialNumber><EnableDate>2024-01-01T00:00:00Z</EnableDate></member>", s)
		}
		writeXML(w, iamNS, action, "<MFADevices>"+b.String()+"</MFADevices><IsTruncated>false</IsTruncated>")
	case "ListSigningCertificates":
		var b strings.Builder
		for i := range m.certs {
			fmt.Fprintf(&b, "<member><CertificateId>CERT%d</CertificateId><CertificateBody>x</CertificateBody><Status>Active</Status></member>", i)
		}
		writeXML(w, iamNS, action, "<Certificates>"+b.String()+"</Certificates><IsTruncated>false</IsTruncated>")
	case "GetUser":
		last := ""
		if !m.lastUsed.IsZero() {
			last = "<PasswordLastUsed>" + m.lastUsed.UTC().Format(time.RFC3339) + "</PasswordLastUsed>"
		}
		writeXML(w, iamNS, action, fmt.Sprintf("<User><Path>/</Path><UserName>%s</UserName><UserId>%s</UserId><Arn>arn:aws:iam::%s:root</Arn><CreateDate>2024-01-01T00:00:00Z</CreateDate>%s</User>", acct, acct, acct, last))
	default:
		writeError(w, 403, "AccessDenied", "not allowed by the task policy: iam:"+action)
	}
}

func (f *fakeAWS) sts(w http.ResponseWriter, _ string, form url.Values) bool {
	if form.Get("Action") != "AssumeRoot" {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.assumeRoot++
	acct := form.Get("TargetPrincipal")
	f.policies[form.Get("TaskPolicyArn.arn")]++
	if f.denyRoot[acct] {
		writeError(w, 403, "AccessDenied", "User: arn:aws:iam::123456789012:user/auditor is not authorized to perform: sts:AssumeRoot on resource: arn:aws:iam::"+acct+":root")
		return true
	}
	writeXML(w, stsNS, "AssumeRoot", fmt.Sprintf(`<Credentials><AccessKeyId>%s%s</AccessKeyId><SecretAccessKey>secret</SecretAccessKey><SessionToken>token</SessionToken><Expiration>%s</Expiration></Credentials><SourceIdentity>rootwatch</SourceIdentity>`,
		rootKeyPrefix, acct, time.Now().Add(15*time.Minute).UTC().Format(time.RFC3339)))
	return true
}

// set changes the fake's state under its lock.
func (f *fakeAWS) set(fn func(f *fakeAWS)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}
