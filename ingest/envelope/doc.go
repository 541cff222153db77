// Package envelope recognises the bodies of the SQS messages rootwatch
// consumes and turns each into a Notification: the S3 objects to read, an
// inline CloudTrail record, or an S3 test event to acknowledge.
//
// The format is detected from the content alone, never from queue
// configuration. Recognised bodies:
//
//   - FormatS3Event: an S3 event notification, {"Records":[{"eventSource":
//     "aws:s3","eventName":"ObjectCreated:Put","s3":{...}}]}. Only
//     ObjectCreated:* records name objects to read; other records (for
//     example ObjectRemoved:*) are ignored, so a message holding only such
//     records is a valid Notification with no Objects. Object keys in these
//     notifications are URL-encoded in the query style ("+" is a space, "/"
//     may be sent as "%2F" by emulators), as AWS documents: the key decoded
//     with url.QueryUnescape is tried first.
//   - FormatSNSS3Event: the same S3 notification delivered through an SNS
//     topic. With SNS raw message delivery on, the body is the inner JSON and
//     is reported as FormatS3Event.
//   - FormatCloudTrailSNS: CloudTrail's own log-delivery notification,
//     {"s3Bucket":"b","s3ObjectKey":["k1","k2"]}, normally SNS-wrapped. Its
//     keys are plain object keys, not URL-encoded, and are tried as they are
//     first.
//   - FormatEventBridgeS3: an EventBridge event from source aws.s3 with
//     detail-type "Object Created". detail.object.key is carried as it is,
//     not URL-encoded (public examples and moto_server agree; the AWS
//     documentation does not say), so it is tried as it is first. Other
//     aws.s3 detail-types (Object Deleted, Object Tags Added, ...) are valid
//     and carry no Objects.
//   - FormatEventBridgeCloudTrail: an EventBridge event whose detail-type ends
//     in "via CloudTrail" ("AWS API Call via CloudTrail", "AWS Console Sign In
//     via CloudTrail", "AWS Service Event via CloudTrail", ...). Its detail is
//     a CloudTrail record and is returned in Notification.Record, its
//     recipientAccountId in Notification.RecordAccount.
//   - FormatS3TestEvent: the s3:TestEvent S3 sends when a notification
//     configuration is saved; Notification.Test is set.
//
// Because no form is documented with certainty, each ObjectRef carries the
// key in both forms: Key in the form the format documents (see KeyForm) and
// AltKey in the other (as-is versus query-decoded), which a reader tries
// when S3 answers that Key does not exist. A key that decoding leaves
// unchanged has no AltKey.
//
// Both EventBridge formats report the event's "account" in
// Notification.Account. Nothing in a body is authenticated: whoever may send
// to the queue chooses every field, so these are for allow-listing and
// logging, not proof of origin.
//
// Every format except FormatS3TestEvent's direct form may arrive inside one
// SNS envelope ({"Type":"Notification","Message":"<json string>"}), which sets
// Notification.Wrapped; an SNS-wrapped S3 notification is reported as
// FormatSNSS3Event. SNS envelopes nested more than one level deep are
// rejected.
//
// Errors wrap ErrUnknownFormat (a well-formed body of no recognised format) or
// ErrMalformed (invalid JSON, wrong field types, missing bucket or key, a key
// over 1024 bytes, a body over MaxBodyBytes), each with a short reason.
// Parse never panics and does its work in time linear in the body size.
package envelope
