package notify

import (
	"strings"

	"github.com/rootwatch/rootwatch/detector"
)

// PipelineSourceKind says what the Source of a pipeline alert (see
// detector.PipelineSource) names, for sinks to label it: "last_object"
// for rootwatch-log-gap (the pair's last log object), "trail" for a
// CloudTrail trail ARN (rootwatch-trail-unhealthy), else "queue"
// (rootwatch-queue-stalled).
func PipelineSourceKind(d *detector.Detection) string {
	switch {
	case d.Rule == "rootwatch-log-gap":
		return "last_object"
	case strings.HasPrefix(d.Source, "arn:") && strings.Contains(d.Source, ":cloudtrail:"):
		return "trail"
	default:
		return "queue"
	}
}
