package expect

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/rootwatch/rootwatch/detector"
)

var t0 = time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)

func det(rule, account, ip string, at time.Time) *detector.Detection {
	return &detector.Detection{Rule: rule, AccountID: account, SourceIP: ip, EventTime: at, EventID: "ev-" + rule}
}

func TestFind(t *testing.T) {
	all := Expectation{ID: "e-all", Account: "111122223333", Reason: "SEC-123", By: "alice", Start: t0, Ends: t0.Add(2 * time.Hour)}
	scoped := Expectation{ID: "e-scoped", Account: "444455556666", Reason: "SEC-124", By: "bob", Start: t0, Ends: t0.Add(time.Hour),
		Rules:       []string{"root-console-login"},
		SourceCIDRs: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("2001:db8::/32")}}
	ended := Expectation{ID: "e-ended", Account: "777788889999", Reason: "SEC-125", By: "carol", Start: t0, Ends: t0.Add(10 * time.Minute)}
	longer := all
	longer.ID, longer.Ends = "e-longer", t0.Add(3*time.Hour)
	list := []Expectation{all, scoped, ended}
	now := t0.Add(30 * time.Minute)
	for _, tc := range []struct {
		name        string
		list        []Expectation
		d           *detector.Detection
		match, gone string
	}{
		{"account-wide, any rule", list, det("root-api-call", "111122223333", "198.51.100.1", t0.Add(time.Minute)), "e-all", ""},
		{"at the start", list, det("root-api-call", "111122223333", "", t0), "e-all", ""},
		{"before the declaration: never retroactive", list, det("root-api-call", "111122223333", "", t0.Add(-time.Second)), "", ""},
		{"other account", list, det("root-api-call", "123456789012", "", t0.Add(time.Minute)), "", ""},
		{"scoped: rule and network match", list, det("root-console-login", "444455556666", "203.0.113.9", t0.Add(time.Minute)), "e-scoped", ""},
		{"scoped: IPv6 network", list, det("root-console-login", "444455556666", "2001:db8::1", t0.Add(time.Minute)), "e-scoped", ""},
		{"scoped: IPv4-mapped IPv6 address", list, det("root-console-login", "444455556666", "::ffff:203.0.113.9", t0.Add(time.Minute)), "e-scoped", ""},
		{"scoped: other rule", list, det("root-mfa-change", "444455556666", "203.0.113.9", t0.Add(time.Minute)), "", ""},
		{"scoped: other network", list, det("root-console-login", "444455556666", "198.51.100.9", t0.Add(time.Minute)), "", ""},
		{"scoped: a service name is no address", list, det("root-console-login", "444455556666", "cloudformation.amazonaws.com", t0.Add(time.Minute)), "", ""},
		{"ended before the event: ignored, reported", list, det("root-api-call", "777788889999", "", t0.Add(10*time.Minute)), "", "e-ended"},
		{"in the window, delivered late: still expected", list, det("root-api-call", "777788889999", "", t0.Add(9*time.Minute)), "e-ended", ""},
		{"unknown event time: now", list, det("root-api-call", "111122223333", "", time.Time{}), "e-all", ""},
		{"unknown event time, ended by now", list, det("root-api-call", "777788889999", "", time.Time{}), "", "e-ended"},
		{"two active: the one ending last", []Expectation{all, longer}, det("root-api-call", "111122223333", "", t0.Add(time.Minute)), "e-longer", ""},
		{"an active one hides an ended one", []Expectation{ended, func() Expectation {
			e := ended
			e.ID, e.Start, e.Ends = "e-new", t0.Add(10*time.Minute), t0.Add(time.Hour)
			return e
		}()},
			det("root-api-call", "777788889999", "", t0.Add(20*time.Minute)), "e-new", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, g := Find(tc.list, tc.d, now)
			if id(m) != tc.match || id(g) != tc.gone {
				t.Errorf("Find = (%s, %s), want (%s, %s)", id(m), id(g), tc.match, tc.gone)
			}
		})
	}
}

func id(e *Expectation) string {
	if e == nil {
		return ""
	}
	return e.ID
}

func TestDeclare(t *testing.T) {
	e, err := Declare(t0.Add(500*time.Millisecond), "111122223333", 2*time.Hour, " SEC-123 close sandbox ", "alice", []string{"root-api-call"}, []string{"203.0.113.9/24", "198.51.100.7"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(e.ID, "e-20261120-") || e.Start != t0 || e.Ends != t0.Add(2*time.Hour) || e.Reason != "SEC-123 close sandbox" {
		t.Errorf("Declare = %+v", e)
	}
	if got := e.Scope(); got != "rules root-api-call from 203.0.113.0/24,198.51.100.7/32" {
		t.Errorf("Scope = %q", got)
	}
	if got := e.String(); got != "SEC-123 close sandbox (declared by alice, ends at 2026-11-20T11:00:00Z)" {
		t.Errorf("String = %q", got)
	}
	for _, tc := range []struct {
		name         string
		account      string
		d            time.Duration
		reason, by   string
		rules, cidrs []string
		want         string
	}{
		{"no reason", "111122223333", time.Hour, " ", "alice", nil, nil, "reason is required"},
		{"no author", "111122223333", time.Hour, "x", "", nil, nil, "by is required"},
		{"bad account", "11112222333", time.Hour, "x", "alice", nil, nil, "not 12 digits"},
		{"zero duration", "111122223333", 0, "x", "alice", nil, nil, "must be positive"},
		{"negative duration", "111122223333", -time.Hour, "x", "alice", nil, nil, "must be positive"},
		{"too long", "111122223333", MaxDuration + time.Second, "x", "alice", nil, nil, "longer than the maximum"},
		{"bad CIDR", "111122223333", time.Hour, "x", "alice", nil, []string{"10.0.0.0/33"}, `"10.0.0.0/33" is neither`},
		{"hostname", "111122223333", time.Hour, "x", "alice", nil, []string{"example.com"}, "neither a CIDR"},
		{"control characters", "111122223333", time.Hour, "SEC-1\n<!channel>", "alice", nil, nil, "control characters"},
		{"overlong reason", "111122223333", time.Hour, strings.Repeat("x", MaxTextLen+1), "alice", nil, nil, "longer than 200"},
		{"bad rule", "111122223333", time.Hour, "x", "alice", []string{"root api"}, nil, `rule "root api"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Declare(t0, tc.account, tc.d, tc.reason, tc.by, tc.rules, tc.cidrs)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Declare: %v, want ErrInvalid mentioning %q", err, tc.want)
			}
		})
	}
}
