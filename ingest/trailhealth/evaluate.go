package trailhealth

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"

	"github.com/rootwatch/rootwatch/detector"
)

// Problem codes: what can be wrong with a trail. They are stable (they
// appear in alerts' error_code, sorted and comma-separated, and in logs).
const (
	// ProblemMissing: DescribeTrails does not return the trail (deleted,
	// or the name is wrong). Critical: a trail that is gone logs nothing.
	ProblemMissing = "TrailMissing"
	// ProblemNotLogging: GetTrailStatus says IsLogging is false. Critical.
	ProblemNotLogging = "TrailNotLogging"
	// ProblemDeliveryError: LatestDeliveryError is set (S3 delivery fails).
	ProblemDeliveryError = "TrailDeliveryError"
	// ProblemNotificationError: LatestNotificationError is set (the SNS
	// notification of new objects fails).
	ProblemNotificationError = "TrailNotificationError"
	// ProblemDeliveryStale: the trail is logging but its latest delivery
	// is older than the allowed age.
	ProblemDeliveryStale = "TrailDeliveryStale"
	// ProblemManagementEvents: the event selectors do not log every
	// management event, read and write.
	ProblemManagementEvents = "TrailManagementEventsNotSelected"
	// ProblemNotMultiRegion: the trail was multi-region and is no longer.
	ProblemNotMultiRegion = "TrailNoLongerMultiRegion"
	// ProblemNotOrganization: the trail was an organization trail and is
	// no longer.
	ProblemNotOrganization = "TrailNoLongerOrganization"
	// ProblemGlobalEvents: the trail included global service events (IAM,
	// STS, sign-in) and no longer does.
	ProblemGlobalEvents = "TrailGlobalServiceEventsOff"
	// ProblemValidationOff: log file validation was on and is off. Medium:
	// a warning (Slack, no page under the default routing).
	ProblemValidationOff = "TrailLogFileValidationOff"
)

// call names the CloudTrail call a finding is read from; a finding whose
// call failed in a check is carried over from the previous check.
type call string

const (
	callDescribe  call = "DescribeTrails"
	callStatus    call = "GetTrailStatus"
	callSelectors call = "GetEventSelectors"
)

// Finding is one problem found with a trail.
type Finding struct {
	// Problem is one of the Problem* codes.
	Problem string
	// Level is critical for a trail that logs nothing (missing, not
	// logging), medium for log file validation turned off, high otherwise.
	Level detector.Level
	// Detail says what was seen, for people ("logging stopped at ...").
	Detail string

	from call
}

// Observation is what one check read about a trail. A nil part means its
// call failed (or was not made); Evaluate then says nothing about it.
type Observation struct {
	// Trail is the trail as DescribeTrails returned it; nil with Missing
	// false when DescribeTrails failed.
	Trail *types.Trail
	// Missing is true when DescribeTrails succeeded without the trail (or
	// a call answered TrailNotFoundException).
	Missing bool
	// Status is GetTrailStatus's answer.
	Status *cloudtrail.GetTrailStatusOutput
	// Selectors is GetEventSelectors's answer.
	Selectors *cloudtrail.GetEventSelectorsOutput
}

// Baseline is what a trail has been seen to have since rootwatch started:
// each flag is set once an observation shows it, and losing it is then a
// problem. A trail that never had one of them is logged at start-up (see
// Startup) but not alerted on.
type Baseline struct {
	MultiRegion      bool `json:"multi_region"`
	Organization     bool `json:"organization"`
	GlobalEvents     bool `json:"global_events"`
	ValidationActive bool `json:"validation"`
}

// Update adds what t shows to b.
func (b *Baseline) Update(t *types.Trail) {
	if t == nil {
		return
	}
	b.MultiRegion = b.MultiRegion || aws.ToBool(t.IsMultiRegionTrail)
	b.Organization = b.Organization || aws.ToBool(t.IsOrganizationTrail)
	b.GlobalEvents = b.GlobalEvents || aws.ToBool(t.IncludeGlobalServiceEvents)
	b.ValidationActive = b.ValidationActive || aws.ToBool(t.LogFileValidationEnabled)
}

// Evaluate returns the problems o shows at now, sorted by code. base is
// the baseline before o (call Update after). maxDeliveryAge is how old
// the latest delivery of a logging trail may be (0: not checked).
func Evaluate(o Observation, base Baseline, now time.Time, maxDeliveryAge time.Duration) []Finding {
	var out []Finding
	add := func(from call, problem string, level detector.Level, format string, args ...any) {
		out = append(out, Finding{Problem: problem, Level: level, Detail: fmt.Sprintf(format, args...), from: from})
	}
	if o.Missing {
		add(callDescribe, ProblemMissing, detector.LevelCritical, "the trail does not exist (deleted or renamed?)")
		return out
	}
	if t := o.Trail; t != nil {
		if base.MultiRegion && !aws.ToBool(t.IsMultiRegionTrail) {
			add(callDescribe, ProblemNotMultiRegion, detector.LevelHigh, "the trail is no longer multi-region: other regions are not logged")
		}
		if base.Organization && !aws.ToBool(t.IsOrganizationTrail) {
			add(callDescribe, ProblemNotOrganization, detector.LevelHigh, "the trail is no longer an organization trail: member accounts are not logged")
		}
		if base.GlobalEvents && !aws.ToBool(t.IncludeGlobalServiceEvents) {
			add(callDescribe, ProblemGlobalEvents, detector.LevelHigh, "the trail no longer includes global service events (IAM, STS, sign-in)")
		}
		if base.ValidationActive && !aws.ToBool(t.LogFileValidationEnabled) {
			add(callDescribe, ProblemValidationOff, detector.LevelMedium, "log file validation was turned off")
		}
	}
	if s := o.Status; s != nil {
		logging := aws.ToBool(s.IsLogging)
		if !logging {
			detail := "logging is off"
			if s.StopLoggingTime != nil {
				detail += " (stopped " + s.StopLoggingTime.UTC().Format(time.RFC3339) + ")"
			}
			add(callStatus, ProblemNotLogging, detector.LevelCritical, "%s", detail)
		}
		if e := aws.ToString(s.LatestDeliveryError); e != "" {
			add(callStatus, ProblemDeliveryError, detector.LevelHigh, "log delivery to S3 fails: %s", e)
		}
		if e := aws.ToString(s.LatestNotificationError); e != "" {
			add(callStatus, ProblemNotificationError, detector.LevelHigh, "SNS notification fails: %s", e)
		}
		// A trail that does not log delivers nothing: that is the
		// critical problem above, not a second one.
		if logging && maxDeliveryAge > 0 {
			last, what := s.LatestDeliveryTime, "latest delivery"
			if last == nil {
				last, what = s.StartLoggingTime, "nothing delivered since logging started"
			}
			switch {
			case last == nil:
				add(callStatus, ProblemDeliveryStale, detector.LevelHigh, "no delivery time reported")
			case now.Sub(*last) > maxDeliveryAge:
				add(callStatus, ProblemDeliveryStale, detector.LevelHigh, "%s %s ago (%s), more than %s",
					what, now.Sub(*last).Truncate(time.Second), last.UTC().Format(time.RFC3339), maxDeliveryAge)
			}
		}
	}
	if sel := o.Selectors; sel != nil {
		if gap := managementGap(sel); gap != "" {
			add(callSelectors, ProblemManagementEvents, detector.LevelHigh, "%s", gap)
		}
	}
	sortFindings(out)
	return out
}

// excludableSources are the management event sources CloudTrail lets a
// trail leave out (high-volume data-plane-like APIs); leaving them out
// hides no root activity rootwatch looks for.
var excludableSources = []string{"kms.amazonaws.com", "rdsdata.amazonaws.com"}

// managementGap says which management events sel leaves out ("" when it
// logs them all, read and write). Basic selectors: one with
// IncludeManagementEvents and ReadWriteType All, or ReadOnly and WriteOnly
// ones together. Advanced selectors: eventCategory = Management with
// readOnly absent, or readOnly = true and = false in two selectors; any
// other condition on a management selector (other than leaving out the
// sources CloudTrail allows to) filters events and counts as a gap.
func managementGap(sel *cloudtrail.GetEventSelectorsOutput) string {
	var read, write bool
	var filters []string
	for _, es := range sel.EventSelectors {
		if !aws.ToBool(es.IncludeManagementEvents) {
			continue
		}
		for _, src := range es.ExcludeManagementEventSources {
			if !slices.Contains(excludableSources, src) {
				filters = append(filters, "excludes "+src)
			}
		}
		switch es.ReadWriteType {
		case types.ReadWriteTypeAll, "":
			read, write = true, true
		case types.ReadWriteTypeReadOnly:
			read = true
		case types.ReadWriteTypeWriteOnly:
			write = true
		}
	}
	for _, as := range sel.AdvancedEventSelectors {
		r, w, f, ok := advancedManagement(as)
		if !ok {
			continue
		}
		read, write = read || r, write || w
		filters = append(filters, f...)
	}
	var missing []string
	if !read {
		missing = append(missing, "read")
	}
	if !write {
		missing = append(missing, "write")
	}
	switch {
	case len(missing) == 2:
		return "management events are not logged (no event selector includes them)"
	case len(missing) == 1:
		return missing[0] + " management events are not logged"
	case len(filters) > 0:
		return "management events are filtered: " + strings.Join(filters, "; ")
	}
	return ""
}

// advancedManagement reads one advanced selector: ok when it selects
// management events, and then which of read and write events it selects
// and the filters narrowing them.
func advancedManagement(as types.AdvancedEventSelector) (read, write bool, filters []string, ok bool) {
	read, write = true, true
	for _, fs := range as.FieldSelectors {
		field := aws.ToString(fs.Field)
		switch field {
		case "eventCategory":
			if !slices.Contains(fs.Equals, "Management") {
				return false, false, nil, false
			}
		case "readOnly":
			switch {
			case len(fs.Equals) == 1 && strings.EqualFold(fs.Equals[0], "true"):
				write = false
			case len(fs.Equals) == 1 && strings.EqualFold(fs.Equals[0], "false"):
				read = false
			case len(fs.Equals) == 0 && len(fs.NotEquals) == 1 && strings.EqualFold(fs.NotEquals[0], "true"):
				read = false
			case len(fs.Equals) == 0 && len(fs.NotEquals) == 1 && strings.EqualFold(fs.NotEquals[0], "false"):
				write = false
			}
		case "eventSource":
			if onlyExcludes(fs) {
				continue
			}
			filters = append(filters, "filters on eventSource")
		default:
			filters = append(filters, "filters on "+field)
		}
	}
	eventCategory := slices.ContainsFunc(as.FieldSelectors, func(fs types.AdvancedFieldSelector) bool {
		return aws.ToString(fs.Field) == "eventCategory"
	})
	if !eventCategory {
		return false, false, nil, false
	}
	return read, write, filters, true
}

// onlyExcludes reports whether fs only leaves out sources CloudTrail lets
// a trail leave out.
func onlyExcludes(fs types.AdvancedFieldSelector) bool {
	if len(fs.Equals)+len(fs.StartsWith)+len(fs.EndsWith)+len(fs.NotStartsWith)+len(fs.NotEndsWith) > 0 {
		return false
	}
	for _, v := range fs.NotEquals {
		if !slices.Contains(excludableSources, v) {
			return false
		}
	}
	return true
}

// Level returns the highest level of fs (informational for none).
func Level(fs []Finding) detector.Level {
	l := detector.LevelInformational
	for _, f := range fs {
		if f.Level > l {
			l = f.Level
		}
	}
	return l
}

// problems returns the sorted, comma-separated codes of fs.
func problems(fs []Finding) string {
	codes := make([]string, len(fs))
	for i, f := range fs {
		codes[i] = f.Problem
	}
	return strings.Join(codes, ",")
}

// summary joins the details of fs for a title.
func summary(fs []Finding) string {
	ds := make([]string, len(fs))
	for i, f := range fs {
		ds[i] = f.Detail
	}
	return strings.Join(ds, "; ")
}
