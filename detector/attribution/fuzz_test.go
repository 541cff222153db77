package attribution

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseIssuance: any input is refused or read without a panic; what
// is read agrees with encoding/json, is bounded, and a session never lasts
// longer than AssumeRoot allows.
func FuzzParseIssuance(f *testing.F) {
	if rec, err := os.ReadFile(filepath.Join("testdata", grantFile)); err == nil {
		f.Add(rec)
	}
	f.Add([]byte(`{"eventSource":"sts.amazonaws.com","eventName":"AssumeRoot","requestParameters":{"durationSeconds":1e400},"responseElements":{"credentials":{"accessKeyId":"ASIA\u0000"}}}`))
	f.Add([]byte(`{"eventSource":"sts.amazonaws.com","eventName":"AssumeRoot","eventName":"x","responseElements":{"credentials":{"accessKeyId":7}}}`))
	f.Fuzz(func(t *testing.T, rec []byte) {
		is, ok, err := ParseIssuance(rec)
		if err != nil || !ok {
			return
		}
		if is.AccessKeyID == "" || is.Duration <= 0 || is.Duration > MaxSessionDuration {
			t.Fatalf("issuance %+v", is)
		}
		var m struct {
			EventSource      string `json:"eventSource"`
			EventName        string `json:"eventName"`
			ResponseElements struct {
				Credentials struct {
					AccessKeyID string `json:"accessKeyId"`
				} `json:"credentials"`
			} `json:"responseElements"`
		}
		if json.Unmarshal(rec, &m) != nil || duplicateKeys(rec) {
			return // fastjson is laxer on invalid UTF-8; on duplicate keys the first wins, in encoding/json the last
		}
		if m.EventName != "AssumeRoot" || m.ResponseElements.Credentials.AccessKeyID != is.AccessKeyID {
			t.Fatalf("encoding/json reads %+v, ParseIssuance %+v", m, is)
		}
	})
}

// duplicateKeys reports whether any object in rec (valid JSON) repeats a
// key.
func duplicateKeys(rec []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(rec))
	var walk func() bool
	walk = func() bool {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		switch tok {
		case json.Delim('{'):
			seen := map[string]bool{}
			for dec.More() {
				k, _ := dec.Token()
				ks, _ := k.(string)
				if seen[ks] || walk() {
					return true
				}
				seen[ks] = true
			}
			_, _ = dec.Token()
		case json.Delim('['):
			for dec.More() {
				if walk() {
					return true
				}
			}
			_, _ = dec.Token()
		}
		return false
	}
	return walk()
}
