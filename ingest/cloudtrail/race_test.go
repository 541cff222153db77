//go:build race

package cloudtrail

// raceEnabled reports a -race build, where the large-stream tests run on
// smaller inputs (the detector slows decoding about tenfold).
const raceEnabled = true
