package posture

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"

	"github.com/rootwatch/rootwatch/ingest/trailhealth"
)

// trailState is one watched trail as the audit found it.
type trailState struct {
	id           string
	account      string // the trail's home account, once known
	organization bool   // an organization trail
	problems     []string
	err          error
}

// expected is what a trail rootwatch reads must have: multi-region and
// global service events (IAM, STS and sign-in are global). Evaluate
// reports their absence, with logging off and management events not
// selected.
var expected = trailhealth.Baseline{MultiRegion: true, GlobalEvents: true}

// inspectTrails reads every trail once.
func inspectTrails(ctx context.Context, api trailhealth.API, trails []string, now time.Time) []trailState {
	out := make([]trailState, 0, len(trails))
	for _, id := range trails {
		ts := trailState{id: id}
		o, failed, err := trailhealth.Inspect(ctx, api, id)
		if err != nil {
			ts.err = err
			out = append(out, ts)
			continue
		}
		for _, action := range slices.Sorted(maps.Keys(failed)) {
			ts.err = wrapCall(action, failed[action])
			break
		}
		if t := o.Trail; t != nil {
			ts.organization = aws.ToBool(t.IsOrganizationTrail)
			if a, err := arn.Parse(aws.ToString(t.TrailARN)); err == nil {
				ts.account = a.AccountID
			}
		}
		for _, f := range trailhealth.Evaluate(o, expected, now, 0) {
			ts.problems = append(ts.problems, f.Problem+": "+f.Detail)
		}
		out = append(out, ts)
	}
	return out
}

// evaluateTrails is the rootwatch-trail check of account id: a healthy
// watched trail (logging, multi-region, management events) logs it, being
// in the account or an organization trail of an organization audit.
func evaluateTrails(trails []trailState, id string, orgAudit bool) Result {
	r := Result{Check: CheckRootwatch}
	var bad []string
	var firstErr error
	for _, t := range trails {
		covers := t.account == id || (orgAudit && t.organization) || t.account == ""
		if !covers {
			continue
		}
		switch {
		case t.err != nil:
			if firstErr == nil {
				firstErr = t.err
			}
		case len(t.problems) > 0:
			bad = append(bad, t.id+" ("+strings.Join(t.problems, "; ")+")")
		default:
			r.Status, r.Detail = StatusPass, fmt.Sprintf("trail %s logs management events in all regions", t.id)
			return r
		}
	}
	switch {
	case len(bad) > 0:
		r.Status, r.Detail = StatusFail, capText("watched trail unhealthy: "+strings.Join(bad, "; "))
	case firstErr != nil:
		return unknown(CheckRootwatch, firstErr)
	default:
		r.Status, r.Detail = StatusFail, "no watched trail logs this account (ROOTWATCH_TRAILS)"
	}
	return r
}
