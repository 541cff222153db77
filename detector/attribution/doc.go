// Package attribution links a member account's root activity from a
// centralized-root session to the sts:AssumeRoot call that opened it, and
// judges each action against the session's task policy.
//
// # The shapes it reads
//
// The management account (or the delegated administrator for IAM) calls
// sts:AssumeRoot; its CloudTrail record (eventSource sts.amazonaws.com,
// eventName AssumeRoot, no errorCode) names the caller (userIdentity.arn,
// sourceIPAddress), the member account (requestParameters.targetPrincipal),
// the task policy (requestParameters.taskPolicyArn.arn, e.g.
// arn:aws:iam::aws:policy/root-task/S3UnlockBucketPolicy), the duration
// (requestParameters.durationSeconds, at most and by default 900) and the
// issued credentials (responseElements.credentials.accessKeyId). Every
// call made with those credentials is logged in the member account with
// userIdentity.type Root, userIdentity.accessKeyId the same key and
// userIdentity.sessionContext.assumedRoot "true" (detector.Detection's
// CredentialSession "assumed_root").
//
// # What the Linker does
//
// Linker.Link takes the detections of one batch. From a detection of the
// AssumeRoot record (any rule matching it, e.g. the built-in assume-root)
// it remembers the issuance by access key id in a Store. A member
// account's assumed-root detection is enriched with
// detector.AssumedRootFacts: who obtained the session, from where, when,
// for which task policy; and severity follows intent: an action the task
// policy exists for (see TaskPolicies) keeps its level, anything else is
// raised one level (at most critical) and says "outside the task policy's
// purpose". When the AssumeRoot event has not been seen (yet, or ever: it
// may be logged by another trail) the detection says "unlinked: the
// AssumeRoot event was not seen (other trail?)" rather than guessing, and
// is remembered.
//
// # Late links (the contract with notify)
//
// Records arrive in any order: EventBridge in seconds, S3 log files every
// few minutes per account and region. When an AssumeRoot record arrives
// after member detections of its session were emitted unlinked, Link
// returns, besides the batch's own detections, one update per remembered
// detection: the same Rule and EventID, AssumedRoot linked, the level that
// follows from the intent, and LinkUpdate set. Its Key ends in "/linked",
// so the dedupe ledger delivers it exactly once and apart from the first
// alert (the AssumeRoot record delivered again, after a failed delivery or
// in a replay, emits the updates again: the waiting list stays until it
// expires, so a retry loses nothing); grouping puts it in the same burst as the first alert (same
// account and access key), so a sink can render it as a note on that
// alert (a Slack thread reply under the session's message, an update of
// the PagerDuty incident). The first alert is never delayed.
//
// Remembered issuances and unlinked detections are bounded and expire
// (Config.Retention after they were seen). The Memory store keeps them in
// the process (a restart forgets them: a session straddling the restart
// is reported unlinked and never late-linked); the DynamoDB store keeps
// them in the dedupe table, shared by replicas, under keys starting with
// KeyPrefix.
package attribution
