package detector

import "time"

// AssumedRootFacts is what rootwatch knows about the sts:AssumeRoot
// session behind a member account's root detection (see
// Detection.AssumedRoot). The JSON form is part of the Detection contract.
type AssumedRootFacts struct {
	// Linked is true when the AssumeRoot event that issued the session's
	// access key was seen; the fields below are then set from it. False:
	// only Note is set, saying the event was not seen.
	Linked bool `json:"linked"`
	// CallerARN is the AssumeRoot caller's userIdentity.arn (a role
	// session or IAM user of the management or delegated admin account).
	// Attacker-influenced: escape before rendering.
	CallerARN string `json:"caller_arn,omitempty"`
	// CallerAccountID is the account that called AssumeRoot.
	CallerAccountID string `json:"caller_account_id,omitempty"`
	// SourceIP is the AssumeRoot call's sourceIPAddress.
	SourceIP string `json:"source_ip,omitempty"`
	// IssuedAt is the AssumeRoot event's eventTime (UTC); nil when unknown.
	IssuedAt *time.Time `json:"issued_at,omitempty"`
	// TargetPrincipal is the AssumeRoot requestParameters.targetPrincipal
	// (a member account id or its root ARN).
	TargetPrincipal string `json:"target_principal,omitempty"`
	// TaskPolicyARN is requestParameters.taskPolicyArn.arn, e.g.
	// "arn:aws:iam::aws:policy/root-task/S3UnlockBucketPolicy".
	TaskPolicyARN string `json:"task_policy_arn,omitempty"`
	// TaskPolicy is the task policy's name ("S3UnlockBucketPolicy"), empty
	// when the ARN is not a root-task policy ARN.
	TaskPolicy string `json:"task_policy,omitempty"`
	// AssumeRootEventID is the AssumeRoot event's eventID.
	AssumeRootEventID string `json:"assume_root_event_id,omitempty"`
	// Intent is IntentWithin, IntentOutside or IntentUnknownPolicy when
	// Linked; empty otherwise.
	Intent string `json:"intent,omitempty"`
	// Note says in one sentence what rootwatch concluded (within or
	// outside the task policy's purpose, or unlinked and why).
	Note string `json:"note"`
}

// The values of AssumedRootFacts.Intent.
const (
	// IntentWithin: the action is one the task policy exists for; the
	// detection keeps the rule's level.
	IntentWithin = "within_purpose"
	// IntentOutside: the action is not one the task policy exists for
	// (AWS denies it, so it is an attempt); the level is raised one step.
	IntentOutside = "outside_purpose"
	// IntentUnknownPolicy: the task policy is not one rootwatch knows; the
	// detection keeps the rule's level.
	IntentUnknownPolicy = "unknown_policy"
)
