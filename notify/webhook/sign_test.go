package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

// knownAnswer is Sign(testSecret, 1764586800, `{"version":1}`) computed
// by Python's hmac module.
const knownAnswer = "17453a40c7f9a10ccb902c93316d1ecb532fbf1aaf33c0dcb441ab8faa580be3"

// independentSig is the v1 signature computed without Sign.
func independentSig(secret string, ts int64, body string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(strconv.FormatInt(ts, 10) + "." + body))
	return hex.EncodeToString(m.Sum(nil))
}

func TestSignMatchesIndependentHMAC(t *testing.T) {
	body := `{"version":1}`
	if got, want := Sign(testSecret, 1764586800, []byte(body)), independentSig(testSecret, 1764586800, body); got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
	// A known answer, so that receivers in other languages can check
	// theirs: python3 -c 'import hmac,hashlib;print(hmac.new(b"whsec-0123456789abcdef0123456789abcdef",b"1764586800.{\"version\":1}",hashlib.sha256).hexdigest())'
	if got := Sign(testSecret, 1764586800, []byte(body)); got != knownAnswer {
		t.Errorf("Sign = %s, want the known answer %s", got, knownAnswer)
	}
	h := SignatureHeader(1764586800, []byte(body), testSecret, oldSecret)
	want := "t=1764586800,v1=" + independentSig(testSecret, 1764586800, body) + ",v1=" + independentSig(oldSecret, 1764586800, body)
	if h != want {
		t.Errorf("SignatureHeader = %s, want %s", h, want)
	}
}

func TestVerify(t *testing.T) {
	now := time.Unix(1764586800, 0)
	body := []byte(`{"version":1,"id":"r/e"}`)
	good := SignatureHeader(now.Unix(), body, testSecret)
	tests := []struct {
		name   string
		secret string
		header string
		body   []byte
		now    time.Time
		tol    time.Duration
		want   error
	}{
		{"valid", testSecret, good, body, now, 0, nil},
		{"valid, 4m59s old", testSecret, good, body, now.Add(4*time.Minute + 59*time.Second), 0, nil},
		{"valid, clock 1m behind", testSecret, good, body, now.Add(-time.Minute), 0, nil},
		{"rotation: second v1 matches", oldSecret, SignatureHeader(now.Unix(), body, testSecret, oldSecret), body, now, 0, nil},
		{"unknown scheme skipped", testSecret, "v0=abc," + good + ",v2=zz", body, now, 0, nil},
		{"spaces after commas", testSecret, strings.ReplaceAll(good, ",", ", "), body, now, 0, nil},
		{"tampered body", testSecret, good, []byte(`{"version":1,"id":"r/f"}`), now, 0, ErrSignature},
		{"body with trailing newline", testSecret, good, append(body, '\n'), now, 0, ErrSignature},
		{"wrong secret", oldSecret, good, body, now, 0, ErrSignature},
		{"tampered timestamp", testSecret, strings.Replace(good, "t=1764586800", "t=1764586801", 1), body, now, 0, ErrSignature},
		{"replayed: 6m old", testSecret, good, body, now.Add(6 * time.Minute), 0, ErrTimestamp},
		{"replayed within a custom tolerance", testSecret, good, body, now.Add(2 * time.Minute), time.Minute, ErrTimestamp},
		{"from the future", testSecret, good, body, now.Add(-10 * time.Minute), 0, ErrTimestamp},
		{"no timestamp", testSecret, "v1=" + Sign(testSecret, now.Unix(), body), body, now, 0, ErrHeader},
		{"two timestamps", testSecret, good + ",t=1", body, now, 0, ErrHeader},
		{"no v1", testSecret, "t=1764586800", body, now, 0, ErrHeader},
		{"short v1", testSecret, "t=1764586800,v1=abcd", body, now, 0, ErrHeader},
		{"non-hex v1", testSecret, "t=1764586800,v1=" + strings.Repeat("zz", 32), body, now, 0, ErrHeader},
		{"bad timestamp", testSecret, "t=-5," + good[13:], body, now, 0, ErrHeader},
		{"empty", testSecret, "", body, now, 0, ErrHeader},
		{"huge", testSecret, good + strings.Repeat(",x=y", 2000), body, now, 0, ErrHeader},
		{"timestamp overflows time", testSecret, "t=9223372036854775807,v1=" + Sign(testSecret, 9223372036854775807, body), body, now, 0, ErrTimestamp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(tt.secret, tt.header, tt.body, tt.now, tt.tol)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
	if err := Verify("", good, body, now, 0); err == nil {
		t.Error("Verify with an empty secret succeeded")
	}
}

// FuzzVerify checks that no header crashes Verify or ParseHeader, that
// only a header carrying the real signature verifies, and that whatever
// ParseHeader accepts has a timestamp and 32-byte signatures.
func FuzzVerify(f *testing.F) {
	body := []byte(`{"version":1}`)
	f.Add(SignatureHeader(1764586800, body, testSecret), body)
	f.Add("t=1764586800,v1=00,v1=", body)
	f.Add("t=,v1=", []byte{})
	f.Add(",,,=,t=1=2", []byte("x"))
	f.Add("t=1764586800,v2="+strings.Repeat("a", 64), body)
	now := time.Unix(1764586800, 0)
	f.Fuzz(func(t *testing.T, header string, b []byte) {
		ts, sigs, err := ParseHeader(header)
		if err == nil {
			if ts <= 0 || len(sigs) == 0 {
				t.Fatalf("ParseHeader(%q) = %d, %d sigs, nil", header, ts, len(sigs))
			}
			for _, s := range sigs {
				if len(s) != sha256.Size {
					t.Fatalf("signature of %d bytes", len(s))
				}
			}
		} else if !errors.Is(err, ErrHeader) {
			t.Fatalf("ParseHeader error %v does not wrap ErrHeader", err)
		}
		if Verify(testSecret, header, b, now, 0) == nil {
			want := independentSig(testSecret, ts, string(b))
			if !strings.Contains(strings.ToLower(header), "v1="+want) {
				t.Fatalf("Verify accepted %q without the signature %s", header, want)
			}
		}
	})
}
