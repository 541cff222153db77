package attribution

import (
	"errors"
	"fmt"
	"time"

	"github.com/valyala/fastjson"
)

// MaxSessionDuration is the longest an sts:AssumeRoot session lasts (and
// its default): 900 seconds.
const MaxSessionDuration = 15 * time.Minute

// maxField bounds every string taken from a record (a hostile record
// cannot make the store hold megabytes per key).
const maxField = 2048

// Issuance is one granted sts:AssumeRoot call: the credentials it issued
// and who asked for them.
type Issuance struct {
	// AccessKeyID is responseElements.credentials.accessKeyId.
	AccessKeyID string `json:"access_key_id"`
	// CallerARN is userIdentity.arn of the caller.
	CallerARN string `json:"caller_arn,omitempty"`
	// CallerAccountID is recipientAccountId (else userIdentity.accountId).
	CallerAccountID string `json:"caller_account_id,omitempty"`
	// SourceIP is sourceIPAddress.
	SourceIP string `json:"source_ip,omitempty"`
	// Time is eventTime (UTC); zero when absent or unparsable.
	Time time.Time `json:"time"`
	// Duration is requestParameters.durationSeconds, MaxSessionDuration
	// when absent, zero, negative or longer.
	Duration time.Duration `json:"duration"`
	// TargetPrincipal is requestParameters.targetPrincipal.
	TargetPrincipal string `json:"target_principal,omitempty"`
	// TaskPolicyARN is requestParameters.taskPolicyArn.arn.
	TaskPolicyARN string `json:"task_policy_arn,omitempty"`
	// EventID is eventID.
	EventID string `json:"event_id,omitempty"`
}

// errNotIssuance is returned by ParseIssuance for a record that is not a
// granted AssumeRoot call.
var errNotIssuance = errors.New("not a granted sts:AssumeRoot record")

// ParseIssuance reads a granted sts:AssumeRoot record (eventSource
// sts.amazonaws.com, eventName AssumeRoot, no errorCode, an issued access
// key id). ok is false, with a nil error, for any other CloudTrail record;
// the error is set only for a record that is not valid JSON or carries an
// AssumeRoot grant with fields too long to be real.
func ParseIssuance(rec []byte) (is Issuance, ok bool, err error) {
	var p fastjson.Parser
	v, err := p.ParseBytes(rec)
	if err != nil {
		return Issuance{}, false, fmt.Errorf("attribution: parse AssumeRoot record: %w", err)
	}
	str := func(keys ...string) string {
		f := v.Get(keys...)
		if f == nil || f.Type() != fastjson.TypeString {
			return ""
		}
		b, _ := f.StringBytes()
		return string(b)
	}
	if str("eventSource") != "sts.amazonaws.com" || str("eventName") != "AssumeRoot" || str("errorCode") != "" {
		return Issuance{}, false, nil
	}
	is = Issuance{
		AccessKeyID:     str("responseElements", "credentials", "accessKeyId"),
		CallerARN:       str("userIdentity", "arn"),
		CallerAccountID: str("recipientAccountId"),
		SourceIP:        str("sourceIPAddress"),
		TargetPrincipal: str("requestParameters", "targetPrincipal"),
		TaskPolicyARN:   str("requestParameters", "taskPolicyArn", "arn"),
		EventID:         str("eventID"),
		Duration:        MaxSessionDuration,
	}
	if is.AccessKeyID == "" {
		return Issuance{}, false, nil
	}
	if is.CallerAccountID == "" {
		is.CallerAccountID = str("userIdentity", "accountId")
	}
	if t, err := time.Parse(time.RFC3339, str("eventTime")); err == nil {
		is.Time = t.UTC()
	}
	if d := v.Get("requestParameters", "durationSeconds"); d != nil && d.Type() == fastjson.TypeNumber {
		if s := d.GetFloat64(); s > 0 && s < MaxSessionDuration.Seconds() {
			is.Duration = time.Duration(s * float64(time.Second))
		}
	}
	for _, f := range []string{is.AccessKeyID, is.CallerARN, is.CallerAccountID, is.SourceIP, is.TargetPrincipal, is.TaskPolicyARN, is.EventID} {
		if len(f) > maxField {
			return Issuance{}, false, fmt.Errorf("attribution: AssumeRoot record %.64q: a field is %d bytes long (at most %d): %w", is.EventID, len(f), maxField, errNotIssuance)
		}
	}
	return is, true, nil
}

// covers reports whether an event at t can belong to the session: from
// the issuance (less skew) to its end (plus skew). A zero time on either
// side is not held against the link.
func (is Issuance) covers(t time.Time) bool {
	const skew = 5 * time.Minute
	if t.IsZero() || is.Time.IsZero() {
		return true
	}
	return !t.Before(is.Time.Add(-skew)) && !t.After(is.Time.Add(is.Duration+skew))
}
