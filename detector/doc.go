// Package detector holds rootwatch's detection model: CloudTrail records as
// raw JSON, compiled Sigma rules, the engine that matches one against the
// other, and the Detection values it produces.
//
// detector imports neither ingest nor notify: records come in as bytes and
// detections go out as plain values.
package detector
