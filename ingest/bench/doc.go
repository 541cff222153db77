// Package bench holds the end-to-end load test of the ingest service: SQS
// notifications at a steady rate, each naming a 100-record CloudTrail
// object in S3, through the real consumer, pipeline, engine and built-in
// rules, against moto_server. It has no non-test code.
//
// Run it (about a minute at 50 objects/s):
//
//	ROOTWATCH_LOAD=60s go test -run TestLoad -v -timeout 10m ./ingest/bench
//
// ROOTWATCH_LOAD_RATE sets objects/s (default 50), ROOTWATCH_LOAD_WORKERS
// the consumer's workers (default 8), and ROOTWATCH_LOAD_S3=inprocess
// serves S3 from gofakes3 inside the test process instead of moto (SQS
// stays on moto), which separates the emulator's cost from rootwatch's:
// the test reports the CPU time of both processes.
package bench
