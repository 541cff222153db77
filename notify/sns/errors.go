package sns

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/rootwatch/rootwatch/notify"
)

// prefix starts every error of the sink.
const prefix = "sns"

// retryableCodes are the SNS (and AWS common) error codes that another
// attempt may get past: throttling and server-side failures.
var retryableCodes = map[string]bool{
	"Throttled":           true, // ThrottledException, HTTP 429
	"Throttling":          true,
	"ThrottlingException": true,
	"KMSThrottling":       true,
	"InternalError":       true,
	"InternalFailure":     true,
	"ServiceUnavailable":  true,
	"RequestTimeout":      true,
	"ExpiredToken":        true, // the SDK fetches fresh role credentials
	"RequestExpired":      true, // clock skew is corrected on the next call
}

// permanentCodes are the error codes no retry can fix: the topic, the
// permissions, the KMS key or the message itself is wrong.
var permanentCodes = map[string]bool{
	"AuthorizationError":          true, // no sns:Publish on the topic
	"AccessDenied":                true,
	"NotFound":                    true, // no such topic
	"InvalidParameter":            true,
	"InvalidParameterValue":       true,
	"ValidationError":             true,
	"InvalidSecurity":             true,
	"InvalidClientTokenId":        true,
	"SignatureDoesNotMatch":       true,
	"KMSDisabled":                 true,
	"KMSNotFound":                 true,
	"KMSInvalidState":             true,
	"KMSAccessDenied":             true, // no kms:GenerateDataKey/Decrypt on the topic's key
	"KMSOptInRequired":            true,
	"EndpointDisabled":            true,
	"PlatformApplicationDisabled": true,
}

// classify turns a failed Publish into a notify error. SNS error codes
// decide first (retryableCodes, permanentCodes); another answered call is
// classified by its HTTP status (notify.ClassifyStatus); a call with no
// answer is retryable (notify.ClassifyNoResponse). ctx is the caller's
// context, callCtx the one with the per-call timeout. The AWS error
// message is cut and made one printable line; credentials never appear in
// SDK errors.
func classify(ctx, callCtx context.Context, err error) error {
	if err == nil {
		return nil
	}
	status := 0
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		code := api.ErrorCode()
		why := fmt.Errorf("%s: publish: %s%s", prefix, code, notify.Reason(api.ErrorMessage(), 300))
		switch {
		case retryableCodes[code]:
			return notify.Retryable(why, 0)
		case permanentCodes[code]:
			return notify.Permanent(why)
		case status != 0:
			if c := notify.ClassifyStatus(prefix+": publish", status, 0, " ("+code+notify.Reason(api.ErrorMessage(), 300)+")"); c != nil {
				return c
			}
		}
		if api.ErrorFault() == smithy.FaultServer {
			return notify.Retryable(why, 0)
		}
		return notify.Permanent(why)
	}
	if status != 0 {
		if c := notify.ClassifyStatus(prefix+": publish", status, 0, ""); c != nil {
			return c
		}
		// A 2xx whose body could not be read.
		return notify.Retryable(fmt.Errorf("%s: reading response: %w", prefix, err), 0)
	}
	return notify.ClassifyNoResponse(ctx, callCtx, prefix, noResponseCause(err))
}

// noResponseCause is the transport error under the SDK's wrapping, or err
// itself.
func noResponseCause(err error) error {
	var se *smithyhttp.RequestSendError
	if errors.As(err, &se) && se.Err != nil {
		return se.Err
	}
	return err
}
