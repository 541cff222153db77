package mototest

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// FaultProxy is an HTTP proxy in front of moto that can refuse chosen
// operations of AWS JSON protocol services (SQS, CloudTrail) the way AWS
// refuses a call the caller's IAM policy does not allow (HTTP 400,
// AccessDenied), or hold them without ever answering (a network black
// hole), so that tests can make a real client's calls fail and recover
// without touching the client. Point a client at it through its URL
// (BaseEndpoint, AWS_ENDPOINT_URL_SQS or AWS_ENDPOINT_URL_CLOUDTRAIL).
type FaultProxy struct {
	// URL is the proxy's base URL.
	URL string

	mu       sync.Mutex
	denied   map[string]bool          // operation names ("ReceiveMessage", "GetTrailStatus") refused
	hung     map[string]bool          // operation names held unanswered
	unhang   chan struct{}            // closed (and replaced) when the holds end
	holding  map[string]int           // requests being held, per operation
	inflight map[*http.Request]func() // cancels requests being forwarded
	seen     map[string]int           // requests per operation
}

// NewFaultProxy starts a proxy to s, stopped when the test ends.
func (s *Server) NewFaultProxy(t testing.TB) *FaultProxy {
	t.Helper()
	target, err := url.Parse(s.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	p := &FaultProxy{denied: map[string]bool{}, hung: map[string]bool{}, unhang: make(chan struct{}),
		holding: map[string]int{}, inflight: map[*http.Request]func(){}, seen: map[string]int{}}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ErrorLog = log.New(io.Discard, "", 0) // aborted requests are the point
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := sqsOperation(r)
		p.mu.Lock()
		p.seen[op]++
		if p.hung[op] {
			// A black hole: no answer until the client gives up or the
			// hold ends (then the request is forwarded as usual).
			p.holding[op]++
			unhang := p.unhang
			p.mu.Unlock()
			select {
			case <-r.Context().Done():
			case <-unhang:
			}
			p.mu.Lock()
			p.holding[op]--
			if r.Context().Err() != nil {
				p.mu.Unlock()
				return
			}
		}
		deny := p.denied[op]
		var ctx context.Context
		if !deny {
			var cancel context.CancelFunc
			ctx, cancel = context.WithCancel(r.Context())
			p.inflight[r] = cancel
		}
		p.mu.Unlock()
		if deny {
			ct := r.Header.Get("Content-Type")
			if ct == "" {
				ct = "application/x-amz-json-1.0"
			}
			w.Header().Set("Content-Type", ct)
			w.Header().Set("x-amzn-query-error", "AccessDenied;Sender")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"__type":"com.amazon.coral.service#AccessDeniedException","message":"User: arn:aws:sts::123456789012:assumed-role/rootwatch/task is not authorized to perform: %s:%s (fault injected by the test)"}`, service(r), op)
			return
		}
		defer func() {
			p.mu.Lock()
			p.inflight[r]()
			delete(p.inflight, r)
			p.mu.Unlock()
		}()
		rp.ServeHTTP(w, r.WithContext(ctx))
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(p.Allow) // before Close: Close waits for the held requests
	p.URL = srv.URL
	return p
}

// sqsOperation returns the operation of an AWS JSON protocol request
// (X-Amz-Target: AmazonSQS.ReceiveMessage, or
// com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.GetTrailStatus),
// or "" for other requests.
func sqsOperation(r *http.Request) string {
	target := r.Header.Get("X-Amz-Target")
	return target[strings.LastIndexByte(target, '.')+1:]
}

// service returns the IAM prefix of a request's service ("sqs",
// "cloudtrail").
func service(r *http.Request) string {
	if strings.Contains(strings.ToLower(r.Header.Get("X-Amz-Target")), "cloudtrail") {
		return "cloudtrail"
	}
	return "sqs"
}

// Deny makes the proxy refuse the named operations with AccessDenied
// from now on, and aborts those being forwarded (a long poll in progress
// fails as a dropped connection would).
func (p *FaultProxy) Deny(ops ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, op := range ops {
		p.denied[op] = true
	}
	for r, cancel := range p.inflight {
		if p.denied[sqsOperation(r)] {
			cancel()
		}
	}
}

// Hang makes the proxy hold requests for the named SQS operations without
// answering, as a network black hole would, from now on: the client sees
// no response until its own deadline. Requests already being forwarded
// are not affected.
func (p *FaultProxy) Hang(ops ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, op := range ops {
		p.hung[op] = true
	}
}

// Holding returns how many requests for the SQS operation op are being
// held unanswered (see Hang).
func (p *FaultProxy) Holding(op string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.holding[op]
}

// Allow forwards every operation again: it ends the refusals and the
// holds (held requests whose client still waits are forwarded).
func (p *FaultProxy) Allow() {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.denied)
	clear(p.hung)
	close(p.unhang)
	p.unhang = make(chan struct{})
}

// Seen returns how many requests for the operation op reached the
// proxy, refused or not.
func (p *FaultProxy) Seen(op string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen[op]
}
