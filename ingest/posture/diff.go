package posture

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rootwatch/rootwatch/detector"
)

// Rule is the pipeline alert raised when an account's root posture gets
// worse between two audits of the service.
const Rule = "rootwatch-root-posture"

// Change is a check of an account whose status got worse between two
// audits.
type Change struct {
	Account string
	Name    string
	Before  Result
	After   Result
}

// Baseline is the last known result of every (account, check): a check
// that could not be made keeps its previous known result, so that a
// denied call in between neither hides nor fakes a change.
type Baseline map[string]Result

func baselineKey(account, check string) string { return account + "/" + check }

// Worse updates b with rep and returns the checks that got worse since b:
// from pass to warn or fail, or from warn to fail. Accounts and checks
// new to b are recorded without a change (the first audit is the
// baseline); could-not-check results are left out of the comparison.
func (b Baseline) Worse(rep *Report) []Change {
	var out []Change
	for _, a := range rep.Accounts {
		for _, r := range a.Results {
			if r.Status == StatusUnknown {
				continue
			}
			k := baselineKey(a.ID, r.Check)
			prev, known := b[k]
			b[k] = r
			if known && r.Status.Rank() > prev.Status.Rank() {
				out = append(out, Change{Account: a.ID, Name: a.Name, Before: prev, After: r})
			}
		}
	}
	slices.SortFunc(out, func(x, y Change) int {
		if c := strings.Compare(x.Account, y.Account); c != 0 {
			return c
		}
		return checkOrder(x.Before.Check) - checkOrder(y.Before.Check)
	})
	return out
}

// Detection is the pipeline alert of c, found by the audit at `at`: level
// high for a new failure, medium for a new warning; the title says what
// changed, the reason (error message) the before and after.
func (c Change) Detection(at time.Time) detector.Detection {
	level := detector.LevelMedium
	if c.After.Status == StatusFail {
		level = detector.LevelHigh
	}
	who := c.Account
	if c.Name != "" {
		who += " (" + oneLine(c.Name) + ")"
	}
	return detector.Detection{
		Rule:         Rule,
		Level:        level,
		Title:        fmt.Sprintf("Root posture got worse in account %s: %s %s → %s", who, c.After.Check, c.Before.Status, c.After.Status),
		EventID:      fmt.Sprintf("root-posture/%s/%s/%d", c.Account, c.After.Check, at.UnixMilli()),
		EventName:    "RootPostureAudit",
		EventSource:  detector.PipelineSource,
		EventType:    detector.PipelineEventType,
		EventTime:    at.UTC(),
		AccountID:    c.Account,
		Principal:    "rootwatch",
		ErrorCode:    c.After.Check,
		ErrorMessage: capText(fmt.Sprintf("before: %s (%s); after: %s (%s)", c.Before.Status, c.Before.Detail, c.After.Status, c.After.Detail)),
		// No Source: the sinks would label it a queue (notify.PipelineSourceKind).
	}
}
