package cloudtrail_test

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/rootwatch/rootwatch/ingest/cloudtrail"
)

// A log object, gzipped or not, is read one record at a time; a damaged
// object yields its readable records, then an error naming it and the
// offset.
func ExampleDecoder() {
	in := strings.NewReader(`{"Records":[{"eventName":"ConsoleLogin"},{"eventName":"GetObject"},{"eventN`)
	d := cloudtrail.NewDecoder(in, cloudtrail.Options{Source: "s3://trail-bucket/AWSLogs/x.json.gz"})
	defer d.Close()
	for {
		rec, err := d.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fmt.Println("error:", err)
			fmt.Println("truncated:", errors.Is(err, cloudtrail.ErrTruncated))
			break
		}
		fmt.Println(string(rec))
	}
	// Output:
	// {"eventName":"ConsoleLogin"}
	// {"eventName":"GetObject"}
	// error: s3://trail-bucket/AWSLogs/x.json.gz: at byte 75: truncated input: input ended inside record starting at byte 67
	// truncated: true
}
