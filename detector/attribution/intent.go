package attribution

import (
	"strings"

	"github.com/rootwatch/rootwatch/detector"
)

// TaskPolicy is one AWS managed root-task policy: what it exists for, and
// the API actions it allows (every other action is denied by the policy's
// "DenyAllOtherActionsOnAnyResource" statement).
type TaskPolicy struct {
	// Name is the policy's name ("S3UnlockBucketPolicy").
	Name string
	// Purpose says what the policy exists for, in a few words.
	Purpose string
	// Actions lists the allowed actions as CloudTrail logs them: event
	// source and event name. s3:ListAllMyBuckets is logged as ListBuckets.
	Actions []Action
}

// Action is one API action as CloudTrail logs it.
type Action struct {
	// Source is the eventSource ("s3.amazonaws.com").
	Source string
	// Name is the eventName ("DeleteBucketPolicy").
	Name string
}

func actions(source string, names ...string) []Action {
	out := make([]Action, len(names))
	for i, n := range names {
		out[i] = Action{Source: source, Name: n}
	}
	return out
}

// TaskPolicies is the intent table: the five root-task policies
// (arn:aws:iam::aws:policy/root-task/NAME, version v1 of 2024-11-06) and
// the actions each allows, from their policy documents.
var TaskPolicies = map[string]TaskPolicy{
	"IAMAuditRootUserCredentials": {
		Name:    "IAMAuditRootUserCredentials",
		Purpose: "review the root user's credentials",
		Actions: actions("iam.amazonaws.com", "ListAccessKeys", "ListSigningCertificates", "GetLoginProfile",
			"ListMFADevices", "GetAccountSummary", "GetUser", "GetAccessKeyLastUsed"),
	},
	"IAMCreateRootUserPassword": {
		Name:    "IAMCreateRootUserPassword",
		Purpose: "create a root user password (to recover root sign-in)",
		Actions: actions("iam.amazonaws.com", "CreateLoginProfile", "GetLoginProfile"),
	},
	"IAMDeleteRootUserCredentials": {
		Name:    "IAMDeleteRootUserCredentials",
		Purpose: "delete the root user's password, access keys, signing certificates and MFA devices",
		Actions: actions("iam.amazonaws.com", "DeleteAccessKey", "DeleteSigningCertificate", "DeleteLoginProfile",
			"DeactivateMFADevice", "DeleteVirtualMFADevice", "ListAccessKeys", "ListSigningCertificates",
			"GetLoginProfile", "ListMFADevices", "GetUser", "GetAccessKeyLastUsed"),
	},
	"S3UnlockBucketPolicy": {
		Name:    "S3UnlockBucketPolicy",
		Purpose: "unlock a bucket by deleting or replacing a bucket policy that denies everyone",
		Actions: actions("s3.amazonaws.com", "DeleteBucketPolicy", "PutBucketPolicy", "GetBucketPolicy", "ListBuckets"),
	},
	"SQSUnlockQueuePolicy": {
		Name:    "SQSUnlockQueuePolicy",
		Purpose: "unlock a queue by replacing a queue policy that denies everyone",
		Actions: actions("sqs.amazonaws.com", "SetQueueAttributes", "GetQueueAttributes", "ListQueues", "GetQueueUrl"),
	},
}

// alwaysAllowed are actions no policy can deny, so every session may make
// them: sts:GetCallerIdentity needs no permission.
var alwaysAllowed = []Action{{Source: "sts.amazonaws.com", Name: "GetCallerIdentity"}}

// TaskPolicyName returns the name of a root-task policy ARN
// ("arn:aws:iam::aws:policy/root-task/S3UnlockBucketPolicy" gives
// "S3UnlockBucketPolicy", in any partition), or "" when arn is not one.
func TaskPolicyName(arn string) string {
	rest, ok := strings.CutPrefix(arn, "arn:")
	if !ok {
		return ""
	}
	partition, rest, ok := strings.Cut(rest, ":")
	if !ok || partition == "" || !strings.HasPrefix(partition, "aws") {
		return ""
	}
	name, ok := strings.CutPrefix(rest, "iam::aws:policy/root-task/")
	if !ok || name == "" || strings.ContainsAny(name, "/:") {
		return ""
	}
	return name
}

// Judge says whether the action (eventSource, eventName) is within the
// purpose of the task policy ARN: detector.IntentWithin,
// detector.IntentOutside, or detector.IntentUnknownPolicy when the policy
// is not in TaskPolicies. It also returns the policy (zero when unknown).
func Judge(taskPolicyARN, eventSource, eventName string) (string, TaskPolicy) {
	tp, ok := TaskPolicies[TaskPolicyName(taskPolicyARN)]
	if !ok {
		return detector.IntentUnknownPolicy, TaskPolicy{}
	}
	for _, list := range [][]Action{tp.Actions, alwaysAllowed} {
		for _, a := range list {
			if a.Source == eventSource && a.Name == eventName {
				return detector.IntentWithin, tp
			}
		}
	}
	return detector.IntentOutside, tp
}
