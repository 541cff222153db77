package mototest

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
)

// SerialProxy forwards requests to an emulator one at a time, so that each
// request is atomic with respect to every other one that goes through it.
//
// Why: moto_server serves requests on concurrent threads and its DynamoDB
// backend evaluates a ConditionExpression and then writes the item without
// a lock (moto/dynamodb/models/table.py, Table.put_item: get_item, then the
// condition, then the write). Two conditional PutItems racing on one item
// can therefore both succeed on moto, which DynamoDB never allows: it
// applies the writes to one item one after the other and a condition is
// checked against the item as the previous write left it. Under CPU load
// moto's threads are preempted between the check and the write often
// enough for tests of the dedupe ledger's claim (attribute_not_exists(pk)
// OR expires_at < :now) to see two winners and a duplicate alert. Tests
// that rely on DynamoDB's conditional writes being exclusive point their
// DynamoDB client at a SerialProxy, not at moto directly.
//
// A request is forwarded even if its client gives up, and the next one
// waits until moto has answered it, so that an abandoned write cannot
// overlap the next request either.
type SerialProxy struct {
	// URL is the proxy's base URL.
	URL string

	mu       sync.Mutex // held while a request is at the emulator
	waiting  func()     // test hook: called when a request has to wait for another
	requests atomic.Int64
}

// NewSerialProxy starts a SerialProxy to endpoint (an emulator's base URL,
// e.g. Server.Endpoint), stopped when the test ends.
func NewSerialProxy(t testing.TB, endpoint string) *SerialProxy {
	t.Helper()
	return newSerialProxy(t, endpoint, nil)
}

// DynamoDBProxy returns a new SerialProxy to the server: point a DynamoDB
// client at its URL to get DynamoDB's atomic conditional writes from moto.
func (s *Server) DynamoDBProxy(t testing.TB) *SerialProxy {
	t.Helper()
	return NewSerialProxy(t, s.Endpoint)
}

// Requests returns how many requests the proxy has forwarded or is
// forwarding.
func (p *SerialProxy) Requests() int {
	return int(p.requests.Load())
}

func newSerialProxy(t testing.TB, endpoint string, waiting func()) *SerialProxy {
	t.Helper()
	target, err := url.Parse(endpoint)
	if err != nil {
		t.Fatalf("mototest: serial proxy target %q: %v", endpoint, err)
	}
	p := &SerialProxy{waiting: waiting}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ErrorLog = log.New(io.Discard, "", 0) // a client that gave up is not the proxy's concern
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.requests.Add(1)
		if !p.mu.TryLock() {
			if p.waiting != nil {
				p.waiting()
			}
			p.mu.Lock()
		}
		defer p.mu.Unlock()
		rp.ServeHTTP(w, r.WithContext(context.WithoutCancel(r.Context())))
	}))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}
