// Package notifytest holds what the tests of the notify integrations
// share: canned HTTP replies for their fake servers, and checks that a
// failed Send is classified as expected and leaks no secret (as
// Alertmanager's AssertNotifyLeaksNoSecret does).
package notifytest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rootwatch/rootwatch/notify"
)

// WriteJSON answers with status and v as JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Reply returns a handler that answers with status, the headers and body.
func Reply(status int, header map[string]string, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}
}

// Hang returns a handler that answers only after the client gave up or
// release was closed (the test ended): a server that never responds.
func Hang(release <-chan struct{}) http.HandlerFunc {
	return func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}
}

// CheckFailure checks a failed Send: err is not nil, permanent or retryable
// as wanted, asks for the wanted Retry-After, mentions contains, and quotes
// none of the secrets in any of its printed forms.
func CheckFailure(t testing.TB, err error, permanent bool, after time.Duration, contains string, secrets ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("Send succeeded, want an error")
	}
	if got := notify.IsPermanent(err); got != permanent {
		t.Errorf("IsPermanent = %v, want %v (%v)", got, permanent, err)
	}
	if got := notify.RetryAfter(err); got != after {
		t.Errorf("RetryAfter = %s, want %s", got, after)
	}
	if !strings.Contains(err.Error(), contains) {
		t.Errorf("error %q lacks %q", err, contains)
	}
	AssertNoSecret(t, "error", fmt.Sprintf("%v %+v %#v", err, err, err), secrets...)
}

// AssertNoSecret fails the test if s, described by what, contains any of
// the secrets.
func AssertNoSecret(t testing.TB, what, s string, secrets ...string) {
	t.Helper()
	for _, secret := range secrets {
		if secret != "" && strings.Contains(s, secret) {
			t.Errorf("%s leaks a secret (%q): %s", what, secret, s)
		}
	}
}

// RedirectTo returns a handler that redirects every request (307) to a
// server of its own, and a check, to call after the Send, that fails the
// test if that server was ever reached: sinks must not follow redirects,
// which would resend a secret or the alert elsewhere.
func RedirectTo(t testing.TB) (redirect http.HandlerFunc, checkNotFollowed func()) {
	t.Helper()
	var mu sync.Mutex
	hits := 0
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		hits++
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(other.Close)
	redirect = func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/steal", http.StatusTemporaryRedirect)
	}
	checkNotFollowed = func() {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		if hits != 0 {
			t.Errorf("the redirect target got %d requests", hits)
		}
	}
	return redirect, checkNotFollowed
}

// Drop is a handler that closes the connection without an answer: a
// server or proxy that dies mid-request.
func Drop(w http.ResponseWriter, _ *http.Request) {
	if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
		_ = conn.Close()
	}
}
