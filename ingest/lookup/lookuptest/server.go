// Package lookuptest is a stand-in for CloudTrail's LookupEvents API (moto
// does not implement it) for tests: an httptest server speaking the AWS JSON
// 1.1 protocol (X-Amz-Target: CloudTrail_20131101.LookupEvents) to the real
// SDK client, which reaches it through the standard endpoint settings
// (AWS_ENDPOINT_URL_CLOUDTRAIL, or BaseEndpoint).
//
// It is a helper for tests only; no service code imports it.
package lookuptest

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Target is the X-Amz-Target of LookupEvents.
const Target = "CloudTrail_20131101.LookupEvents"

// Request is a LookupEvents request as received.
type Request struct {
	LookupAttributes []struct {
		AttributeKey   string
		AttributeValue string
	}
	StartTime  *float64
	EndTime    *float64
	MaxResults int
	NextToken  string
}

// Server is a fake LookupEvents endpoint over a fixed set of records.
type Server struct {
	URL string

	mu       sync.Mutex
	records  []record
	throttle int // requests still to answer with ThrottlingException
	requests []Request
	times    []time.Time
}

type record struct {
	id, name, source, user, accessKey string
	t                                 time.Time
	raw                               string
	readOnly                          bool
}

// New starts a server holding the CloudTrail records of the JSON array file
// path (each a record as CloudTrail writes it). Username is derived as
// CloudTrail does: "root" for Root identities, else userName or the last
// part of the ARN.
func New(t testing.TB, path string) *Server {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(b, &raws); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	s := &Server{}
	for _, raw := range raws {
		var r struct {
			EventID, EventName, EventSource, EventTime string
			ReadOnly                                   bool
			UserIdentity                               struct {
				Type, UserName, AccessKeyID string
			}
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		tm, err := time.Parse(time.RFC3339, r.EventTime)
		if err != nil {
			t.Fatalf("%s: eventTime: %v", path, err)
		}
		user := r.UserIdentity.UserName
		if r.UserIdentity.Type == "Root" {
			user = "root"
		}
		s.records = append(s.records, record{id: r.EventID, name: r.EventName, source: r.EventSource, user: user,
			accessKey: r.UserIdentity.AccessKeyID, t: tm, raw: string(raw), readOnly: r.ReadOnly})
	}
	// LookupEvents returns the newest events first.
	sort.SliceStable(s.records, func(i, j int) bool { return s.records[i].t.After(s.records[j].t) })
	hs := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(hs.Close)
	s.URL = hs.URL
	return s
}

// Throttle makes the next n requests fail with a 400 ThrottlingException.
func (s *Server) Throttle(n int) {
	s.mu.Lock()
	s.throttle = n
	s.mu.Unlock()
}

// Requests returns the requests received so far and when each arrived.
func (s *Server) Requests() ([]Request, []time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...), append([]time.Time(nil), s.times...)
}

func fail(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": typ, "message": msg})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.Header.Get("X-Amz-Target") != Target ||
		r.Header.Get("Content-Type") != "application/x-amz-json-1.1" {
		fail(w, http.StatusBadRequest, "UnknownOperationException", fmt.Sprintf("unexpected %s %q %q", r.Method,
			r.Header.Get("X-Amz-Target"), r.Header.Get("Content-Type")))
		return
	}
	var req Request
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		fail(w, http.StatusBadRequest, "SerializationException", err.Error())
		return
	}
	s.mu.Lock()
	s.requests = append(s.requests, req)
	s.times = append(s.times, time.Now())
	throttled := s.throttle > 0
	if throttled {
		s.throttle--
	}
	s.mu.Unlock()
	if throttled {
		fail(w, http.StatusBadRequest, "ThrottlingException", "Rate exceeded")
		return
	}
	if len(req.LookupAttributes) > 1 {
		fail(w, http.StatusBadRequest, "InvalidLookupAttributesException", "only one lookup attribute is allowed")
		return
	}
	if req.MaxResults < 0 || req.MaxResults > 50 {
		fail(w, http.StatusBadRequest, "InvalidMaxResultsException", "MaxResults must be 1-50")
		return
	}
	size := req.MaxResults
	if size == 0 {
		size = 50
	}
	var match []record
	for _, rec := range s.records {
		if req.StartTime != nil && rec.t.Before(epoch(*req.StartTime)) || req.EndTime != nil && rec.t.After(epoch(*req.EndTime)) {
			continue
		}
		if len(req.LookupAttributes) == 1 && !matches(rec, req.LookupAttributes[0].AttributeKey, req.LookupAttributes[0].AttributeValue) {
			continue
		}
		match = append(match, rec)
	}
	from := 0
	if req.NextToken != "" {
		n, err := strconv.Atoi(req.NextToken)
		if err != nil || n < 0 || n > len(match) {
			fail(w, http.StatusBadRequest, "InvalidNextTokenException", "invalid NextToken")
			return
		}
		from = n
	}
	to := min(from+size, len(match))
	events := make([]map[string]any, 0, to-from)
	for _, rec := range match[from:to] {
		events = append(events, map[string]any{
			"EventId": rec.id, "EventName": rec.name, "EventSource": rec.source,
			"ReadOnly": strconv.FormatBool(rec.readOnly), "AccessKeyId": rec.accessKey,
			"EventTime": float64(rec.t.Unix()), "Username": rec.user, "Resources": []any{},
			"CloudTrailEvent": rec.raw,
		})
	}
	out := map[string]any{"Events": events}
	if to < len(match) {
		out["NextToken"] = strconv.Itoa(to)
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(out)
}

func epoch(f float64) time.Time {
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC()
}

func matches(rec record, key, value string) bool {
	switch key {
	case "EventName":
		return rec.name == value
	case "Username":
		return rec.user == value
	case "EventId":
		return rec.id == value
	case "EventSource":
		return rec.source == value
	case "AccessKeyId":
		return rec.accessKey == value
	case "ReadOnly":
		return strconv.FormatBool(rec.readOnly) == value
	}
	return false
}
