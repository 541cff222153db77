package rules

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/rootwatch/rootwatch/detector/sigma"
)

// ParseProtect parses the ROOTWATCH_PROTECT setting into placeholder values
// for the rules' expand modifier (sigma.Options.Placeholders).
//
// The setting is a comma-separated list of name=value items; a name may
// repeat, and its values are ORed. Four names describe what feeds rootwatch,
// and the built-in rule log-delivery-tampering uses them; their values are
// normalised to the form CloudTrail logs:
//
//   - bucket: the trail bucket, as a name, arn:aws:s3:::name or s3://name;
//     becomes the bucket name (requestParameters.bucketName).
//   - queue: the notification queue, as its URL or its ARN; becomes
//     "<account-id>/<queue-name>", which the rule matches at the end of
//     requestParameters.queueUrl (so any SQS endpoint spelling matches).
//   - rule: an EventBridge rule, as a name or ARN (custom buses included);
//     becomes the rule name (requestParameters.name or .rule).
//   - key: the KMS key, as a key ARN or key id; becomes the key id, which the
//     rule matches at the end of requestParameters.keyId (a key id or ARN).
//     Aliases are refused: DisableKey, ScheduleKeyDeletion and PutKeyPolicy
//     take the key itself, so CloudTrail never logs an alias for them.
//
// Any other name is a plain placeholder for rules of one's own, its values
// used as written. An empty spec gives no placeholders.
func ParseProtect(spec string) (map[string][]string, error) {
	out := map[string][]string{}
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, value, ok := strings.Cut(item, "=")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || value == "" {
			return nil, fmt.Errorf("protect: %q: want name=value", item)
		}
		if !sigma.ValidPlaceholderName(name) {
			return nil, fmt.Errorf("protect: %q: invalid name %q (letters, digits, _ . -)", item, name)
		}
		norm, err := normalizeProtected(name, value)
		if err != nil {
			return nil, fmt.Errorf("protect: %s=%s: %w", name, value, err)
		}
		if !slices.Contains(out[name], norm) {
			out[name] = append(out[name], norm)
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

func normalizeProtected(name, v string) (string, error) {
	switch name {
	case "bucket":
		if rest, ok := arnResource(v, "s3"); ok {
			v = rest
		} else if rest, ok := strings.CutPrefix(v, "s3://"); ok {
			v, _, _ = strings.Cut(rest, "/")
		}
		if v == "" || strings.ContainsAny(v, "/: *?") {
			return "", fmt.Errorf("want a bucket name, arn:aws:s3:::name or s3://name")
		}
		return v, nil
	case "queue":
		if strings.HasPrefix(v, "arn:") {
			parts := strings.Split(v, ":")
			if len(parts) != 6 || parts[2] != "sqs" || !isAccountID(parts[4]) || parts[5] == "" {
				return "", fmt.Errorf("want a queue ARN arn:aws:sqs:REGION:ACCOUNT:NAME")
			}
			return parts[4] + "/" + parts[5], nil
		}
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return "", fmt.Errorf("want the queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME) or ARN")
		}
		parts := strings.Split(strings.Trim(u.Path, "/"), "/")
		if len(parts) != 2 || !isAccountID(parts[0]) || parts[1] == "" {
			return "", fmt.Errorf("queue URL path must be /ACCOUNT/NAME")
		}
		return parts[0] + "/" + parts[1], nil
	case "rule":
		if rest, ok := arnResource(v, "events"); ok {
			r, ok := strings.CutPrefix(rest, "rule/")
			if !ok {
				return "", fmt.Errorf("want an EventBridge rule ARN (...:rule/[BUS/]NAME)")
			}
			v = r[strings.LastIndexByte(r, '/')+1:]
		}
		if v == "" || strings.ContainsAny(v, "/: *?") {
			return "", fmt.Errorf("want an EventBridge rule name or ARN")
		}
		return v, nil
	case "key":
		if rest, ok := arnResource(v, "kms"); ok {
			id, ok := strings.CutPrefix(rest, "key/")
			if !ok {
				return "", fmt.Errorf("want a key ARN (...:key/ID); aliases cannot be matched, CloudTrail logs the key")
			}
			v = id
		}
		if strings.HasPrefix(v, "alias/") {
			return "", fmt.Errorf("aliases cannot be matched (CloudTrail logs the key): give the key ARN or id")
		}
		if len(v) < 8 || strings.ContainsAny(v, "/: *?") {
			return "", fmt.Errorf("want a KMS key ARN or key id")
		}
		return v, nil
	}
	return v, nil
}

// arnResource returns the resource part of an ARN of the given service
// (arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE).
func arnResource(v, service string) (string, bool) {
	parts := strings.SplitN(v, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != service {
		return "", false
	}
	return parts[5], true
}

func isAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
