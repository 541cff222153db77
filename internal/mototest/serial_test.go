package mototest

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// racyStore is an HTTP stand-in for moto's conditional PutItem: it checks
// whether the item exists, then writes it, without a lock between the two
// (moto's Table.put_item). The first request to arrive stops between its
// check and its write until proceed is closed, the interleaving that CPU
// load makes moto's threads take now and then; here it is forced, so the
// outcome does not depend on the machine's speed.
type racyStore struct {
	mu       sync.Mutex
	exists   bool
	arrivals int
	checked  chan struct{} // closed when the first request has checked
	proceed  chan struct{} // closed to let the first request write
	once     sync.Once
}

func newRacyStore() *racyStore {
	return &racyStore{checked: make(chan struct{}), proceed: make(chan struct{})}
}

func (s *racyStore) letFirstWrite() { s.once.Do(func() { close(s.proceed) }) }

func (s *racyStore) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	s.arrivals++
	first := s.arrivals == 1
	seen := s.exists // the condition: attribute_not_exists
	s.mu.Unlock()
	if first {
		close(s.checked)
		<-s.proceed
	} else {
		// A second request reached the store while the first one sits
		// between its check and its write.
		s.letFirstWrite()
	}
	if seen {
		http.Error(w, "ConditionalCheckFailedException", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.exists = true
	s.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// twoConditionalWrites sends two conditional writes to url, the second
// once the first is between its check and its write, and returns how many
// succeeded.
func twoConditionalWrites(t *testing.T, store *racyStore, url string) int {
	t.Helper()
	var wg sync.WaitGroup
	codes := make([]int, 2)
	send := func(i int) {
		defer wg.Done()
		resp, err := http.Post(url, "application/x-amz-json-1.0", nil)
		if err != nil {
			t.Error(err)
			return
		}
		resp.Body.Close()
		codes[i] = resp.StatusCode
	}
	wg.Add(2)
	go send(0)
	<-store.checked
	go send(1)
	wg.Wait()
	won := 0
	for _, c := range codes {
		if c == http.StatusOK {
			won++
		}
	}
	return won
}

// TestSerialProxyMakesConditionalWritesAtomic: two conditional writes of
// one item, the second arriving while the first is between its check and
// its write. Straight to a store that checks and writes without a lock (as
// moto does), both succeed: two dedupe claims won, a duplicate alert.
// Through a SerialProxy the second waits for the first to finish, sees the
// item and fails, as on DynamoDB.
func TestSerialProxyMakesConditionalWritesAtomic(t *testing.T) {
	t.Run("straight to the store: both win", func(t *testing.T) {
		store := newRacyStore()
		srv := httptest.NewServer(store)
		t.Cleanup(srv.Close)
		if won := twoConditionalWrites(t, store, srv.URL); won != 2 {
			t.Fatalf("%d conditional writes succeeded straight to the racy store, want 2 (the race the proxy exists for)", won)
		}
	})
	t.Run("through the serial proxy: one wins", func(t *testing.T) {
		store := newRacyStore()
		srv := httptest.NewServer(store)
		t.Cleanup(srv.Close)
		// The second request is held by the proxy, never at the store: let
		// the first write when the proxy makes the second one wait.
		p := newSerialProxy(t, srv.URL, store.letFirstWrite)
		if won := twoConditionalWrites(t, store, p.URL); won != 1 {
			t.Fatalf("%d conditional writes succeeded through the serial proxy, want exactly 1", won)
		}
	})
}
