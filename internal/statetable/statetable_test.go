package statetable

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// TestTablePrefixesDistinct: no two owners' key prefixes can name the same
// item: none is another's prefix, each ends in "#" (so an owner's own keys
// cannot run into the next prefix), and the registry lists every constant.
func TestTablePrefixesDistinct(t *testing.T) {
	consts := []string{PrefixWatchdog, PrefixBurstGroup, PrefixBurstThread, PrefixExpect, PrefixCorrelate, PrefixAttribution}
	if len(Prefixes) != len(consts) {
		t.Fatalf("Prefixes has %d entries, %d prefix constants", len(Prefixes), len(consts))
	}
	for _, p := range consts {
		if Prefixes[p] == "" {
			t.Errorf("prefix %q has no owner in Prefixes", p)
		}
		if !strings.HasSuffix(p, "#") || strings.Count(p, "#") != 1 || len(p) < 2 {
			t.Errorf("prefix %q: want one word followed by a single #", p)
		}
	}
	for a := range Prefixes {
		for b := range Prefixes {
			if a != b && strings.HasPrefix(a, b) {
				t.Errorf("prefix %q (%s) starts with prefix %q (%s)", a, Prefixes[a], b, Prefixes[b])
			}
		}
	}
}

func TestEpochs(t *testing.T) {
	base := time.Unix(1_800_000_000, 0)
	tests := []struct {
		name       string
		t          time.Time
		epoch, up  string
		millis     string
		backMillis time.Time
	}{
		{"whole second", base, "1800000000", "1800000000", "1800000000000", base.UTC()},
		{"fraction", base.Add(1500 * time.Millisecond), "1800000001", "1800000002", "1800000001500", base.Add(1500 * time.Millisecond).UTC()},
		{"nanosecond past", base.Add(time.Nanosecond), "1800000000", "1800000001", "1800000000000", base.UTC()},
		{"zero time", time.Time{}, "-62135596800", "-62135596800", "0", time.Time{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := func(v types.AttributeValue) string { return v.(*types.AttributeValueMemberN).Value }
			if got := n(Epoch(tc.t)); got != tc.epoch {
				t.Errorf("Epoch = %s, want %s", got, tc.epoch)
			}
			if got := n(EpochUp(tc.t)); got != tc.up {
				t.Errorf("EpochUp = %s, want %s", got, tc.up)
			}
			if got := n(Millis(tc.t)); got != tc.millis {
				t.Errorf("Millis = %s, want %s", got, tc.millis)
			}
			item := map[string]types.AttributeValue{"m": Millis(tc.t), AttrExpiresAt: EpochUp(tc.t)}
			if got := TimeMillis(item, "m"); !got.Equal(tc.backMillis) || got.IsZero() != tc.backMillis.IsZero() {
				t.Errorf("TimeMillis = %v, want %v", got, tc.backMillis)
			}
			if sec, ok := ExpiresAt(item); !ok || N(sec).(*types.AttributeValueMemberN).Value != tc.up {
				t.Errorf("ExpiresAt = %d, %v; want %s", sec, ok, tc.up)
			}
		})
	}
}

func TestGetters(t *testing.T) {
	item := map[string]types.AttributeValue{
		AttrPK:    S("expect#a"),
		"n":       N(-7),
		"bad":     &types.AttributeValueMemberN{Value: "1.5"},
		"list":    &types.AttributeValueMemberL{Value: []types.AttributeValue{S("a"), N(1), S("b")}},
		"strlist": StringListOf([]string{"x", "y"}),
	}
	if got := String(item, AttrPK); got != "expect#a" {
		t.Errorf("String(pk) = %q", got)
	}
	if got := String(item, "n"); got != "" {
		t.Errorf("String of a number = %q, want empty", got)
	}
	if got, err := Int(item, "n"); err != nil || got != -7 {
		t.Errorf("Int(n) = %d, %v", got, err)
	}
	for _, name := range []string{"bad", "missing", AttrPK} {
		if _, err := Int(item, name); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("Int(%s) error = %v, want one naming the attribute", name, err)
		}
	}
	if got := TimeMillis(item, "n"); !got.IsZero() {
		t.Errorf("TimeMillis of a negative number = %v, want the zero time", got)
	}
	if got := strings.Join(StringList(item, "list"), ","); got != "a,b" {
		t.Errorf("StringList = %q, want the string members a,b", got)
	}
	if got := strings.Join(StringList(item, "strlist"), ","); got != "x,y" {
		t.Errorf("StringList(StringListOf) = %q", got)
	}
	if StringList(item, "missing") != nil {
		t.Error("StringList of a missing attribute is not nil")
	}
	if _, ok := ExpiresAt(item); ok {
		t.Error("ExpiresAt of an item without one reports ok")
	}
	if k := Key("corr#r#g"); len(k) != 1 || String(k, AttrPK) != "corr#r#g" {
		t.Errorf("Key = %v", k)
	}
}

func TestConditionFailedAndOpen(t *testing.T) {
	wrapped := errors.Join(errors.New("put"), &types.ConditionalCheckFailedException{})
	if !ConditionFailed(wrapped) {
		t.Error("a wrapped ConditionalCheckFailedException is not a failed condition")
	}
	if ConditionFailed(nil) || ConditionFailed(errors.New("throttled")) {
		t.Error("nil or another error counts as a failed condition")
	}
	var nilAPI ItemGetter
	if _, err := Open(nilAPI, "t"); !errors.Is(err, ErrNoTable) {
		t.Errorf("Open(nil client) = %v", err)
	}
	if _, err := Open[API](&dynamodb.Client{}, ""); !errors.Is(err, ErrNoTable) {
		t.Errorf("Open(empty table) = %v", err)
	}
	tb, err := Open[API](&dynamodb.Client{}, "t", WithClock(nil))
	if err != nil || tb.Name != "t" || tb.Now == nil || tb.API == nil {
		t.Errorf("Open(client, table) = %+v, %v", tb, err)
	}
	at := time.Unix(1_800_000_000, 0)
	if tb, _ := Open[API](&dynamodb.Client{}, "t", WithClock(func() time.Time { return at })); !tb.Now().Equal(at) {
		t.Errorf("Open with a clock: Now() = %v, want %v", tb.Now(), at)
	}
}
