package posture

import (
	"errors"
	"regexp"
	"strings"

	"github.com/aws/smithy-go"
)

// callError is a failed AWS call with the IAM action it needed.
type callError struct {
	action string // e.g. "iam:GetAccountSummary"
	err    error
}

func (e *callError) Error() string { return e.action + ": " + errText(e.err) }
func (e *callError) Unwrap() error { return e.err }

// wrapCall returns err as a callError of action, nil when err is nil.
func wrapCall(action string, err error) error {
	if err == nil {
		return nil
	}
	return &callError{action: action, err: err}
}

// deniedRE finds the action an AccessDenied message names: "... is not
// authorized to perform: iam:GetAccountSummary on resource: ...".
var deniedRE = regexp.MustCompile(`(?i)not authorized to perform:? ([a-z0-9-]+:[A-Za-z0-9*]+)`)

// isDenied reports whether err is AWS refusing the call for lack of
// permission.
func isDenied(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "NotAuthorized",
		"AuthorizationError", "AccountNotManagementOrDelegatedAdministrator",
		"AccountNotManagementOrDelegatedAdministratorException":
		return true
	}
	return false
}

// isThrottled reports whether err is AWS asking to slow down.
func isThrottled(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded":
		return true
	}
	return false
}

// errorCode returns the API error code of err, "" when it has none.
func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// MissingPermission returns the IAM action err says was refused: the one
// named in the AccessDenied message, else the action of the call; "" when
// err is not a denial.
func MissingPermission(err error) string {
	if err == nil || !isDenied(err) {
		return ""
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		if m := deniedRE.FindStringSubmatch(ae.ErrorMessage()); m != nil {
			return m[1]
		}
	}
	var ce *callError
	if errors.As(err, &ce) {
		return ce.action
	}
	return ""
}

// unknown is the could-not-check result of check for err.
func unknown(check string, err error) Result {
	r := Result{Check: check, Status: StatusUnknown}
	if p := MissingPermission(err); p != "" {
		r.MissingPermission = p
		r.Detail = "access denied: missing permission " + p
		return r
	}
	r.Detail = capText(errText(err))
	return r
}

// errText is err for people: the API's code and message when it has them,
// with the action of the call.
func errText(err error) string {
	var ce *callError
	prefix := ""
	if errors.As(err, &ce) {
		prefix = ce.action + ": "
		err = ce.err
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return prefix + ae.ErrorCode() + ": " + ae.ErrorMessage()
	}
	return prefix + err.Error()
}

const maxDetailBytes = 400

func capText(s string) string {
	if len(s) <= maxDetailBytes {
		return s
	}
	return strings.ToValidUTF8(s[:maxDetailBytes], "") + "…"
}
