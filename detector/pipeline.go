package detector

// Pipeline alerts are detections about rootwatch itself (it cannot read
// its queue, its input has a gap) rather than about a CloudTrail record.
// They go through the same routing, dedupe and sinks as rule detections;
// their Rule is the pipeline alert's name (e.g. "rootwatch-queue-stalled"),
// their EventSource is PipelineSource and their EventType
// PipelineEventType, their EventID identifies one episode of the condition
// (stable from the alert to its all-clear), and the all-clear is the same
// detection with Resolved set.
const (
	PipelineSource    = "rootwatch"
	PipelineEventType = "PipelineAlert"
)

// IsPipeline reports whether d is a pipeline alert.
func (d *Detection) IsPipeline() bool {
	return d.EventType == PipelineEventType && d.EventSource == PipelineSource
}
