package notify

import (
	"regexp"
	"strings"
)

// regionRE matches an AWS region name (us-east-1, us-gov-west-1,
// ap-southeast-2, eusc-de-east-1). Only a matching region is put in a URL.
var regionRE = regexp.MustCompile(`^[a-z]{2,4}(-[a-z]{2,10}){1,3}-[0-9]{1,2}$`)

// eventIDRE matches a CloudTrail eventID (a UUID in practice). Only a
// matching id is put in a URL, so a crafted id cannot add a path, query,
// fragment or a Slack link label.
var eventIDRE = regexp.MustCompile(`^[A-Za-z0-9-]{1,128}$`)

// ConsoleEventURL returns the link to event eventID in the CloudTrail
// console's event history for region, or "" when region or eventID do not
// look like an AWS region and a CloudTrail event id. consoleBase, when not
// empty, replaces the default "https://<region>.console.aws.amazon.com"
// (for other partitions, e.g. "https://console.amazonaws-us-gov.com").
func ConsoleEventURL(consoleBase, region, eventID string) string {
	if !regionRE.MatchString(region) || !eventIDRE.MatchString(eventID) {
		return ""
	}
	base := strings.TrimRight(consoleBase, "/")
	if base == "" {
		base = "https://" + region + ".console.aws.amazon.com"
	}
	return base + "/cloudtrailv2/home?region=" + region + "#/events/" + eventID
}
