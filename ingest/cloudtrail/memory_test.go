package cloudtrail

import (
	"bufio"
	"errors"
	"io"
	"runtime"
	"strconv"
	"testing"

	"github.com/klauspost/compress/gzip"
)

// writeLog writes a gzipped {"Records":[...]} object of n records to w,
// generated on the fly, and returns the decompressed size.
func writeLog(w io.Writer, n int) (int64, error) {
	zw, err := gzip.NewWriterLevel(w, gzip.BestSpeed)
	if err != nil {
		return 0, err
	}
	cw := &countingWriter{w: zw}
	bw := bufio.NewWriterSize(cw, 64<<10)
	rec := make([]byte, 0, 2048)
	if _, err := bw.WriteString(`{"Records":[`); err != nil {
		return 0, err
	}
	for i := range n {
		rec = rec[:0]
		if i > 0 {
			rec = append(rec, ',', '\n')
		}
		rec = append(rec, `{"eventVersion":"1.09","userIdentity":{"type":"AssumedRole","principalId":"AROAEXAMPLE:s`...)
		rec = strconv.AppendInt(rec, int64(i%97), 10)
		rec = append(rec, `","arn":"arn:aws:sts::123456789012:assumed-role/App/s`...)
		rec = strconv.AppendInt(rec, int64(i%97), 10)
		rec = append(rec, `","accountId":"123456789012"},"eventTime":"2026-11-20T08:00:00Z","eventSource":"s3.amazonaws.com",`...)
		rec = append(rec, `"eventName":"GetObject","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.`...)
		rec = strconv.AppendInt(rec, int64(i%251), 10)
		rec = append(rec, `","userAgent":"[aws-sdk-go-v2] \"quoted\" {x} \\","requestParameters":{"bucketName":"data","key":"k/`...)
		rec = strconv.AppendInt(rec, int64(i), 16)
		rec = append(rec, `"},"responseElements":null,"eventID":"`...)
		rec = strconv.AppendUint(rec, uint64(i)*0x9e3779b97f4a7c15, 16)
		rec = append(rec, `","readOnly":true,"eventType":"AwsApiCall","recipientAccountId":"123456789012"}`...)
		if _, err := bw.Write(rec); err != nil {
			return 0, err
		}
	}
	if _, err := bw.WriteString("]}\n"); err != nil {
		return 0, err
	}
	if err := bw.Flush(); err != nil {
		return 0, err
	}
	return cw.n, zw.Close()
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// TestBoundedMemory decodes a gzipped log object of more than 200 MB
// (decompressed; 25 MB under -race), produced on the fly through a pipe,
// and checks that the heap stays bounded while doing so.
func TestBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("decodes 200+ MB; skipped with -short")
	}
	records, minSize := 400_000, int64(200<<20) // about 560 bytes each
	if raceEnabled {
		records, minSize = 50_000, 25<<20
	}
	pr, pw := io.Pipe()
	sizeCh := make(chan int64, 1)
	go func() {
		n, err := writeLog(pw, records)
		sizeCh <- n
		pw.CloseWithError(err)
	}()
	defer pr.Close()

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	startSys := ms.Sys
	var peakHeap, peakSys uint64
	sample := func() {
		runtime.ReadMemStats(&ms)
		peakHeap = max(peakHeap, ms.HeapInuse)
		peakSys = max(peakSys, ms.Sys)
	}
	d := NewDecoder(pr, Options{Source: "pipe"})
	defer d.Close()
	n := 0
	for {
		rec, err := d.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if rec[0] != '{' {
			t.Fatalf("record %d starts with %q", n, rec[0])
		}
		if n++; n%20000 == 0 {
			sample()
		}
	}
	sample()
	size := <-sizeCh
	if n != records {
		t.Fatalf("decoded %d records, want %d", n, records)
	}
	if size < minSize || d.Offset() != size {
		t.Fatalf("decompressed %d bytes (Offset %d); want the whole stream of more than %d", size, d.Offset(), minSize)
	}
	sysGrowth := peakSys - min(startSys, peakSys)
	t.Logf("%d records, %d MiB decompressed; peak HeapInuse %.1f MiB, Sys grew %.1f MiB (to %.1f MiB)",
		n, size>>20, float64(peakHeap)/(1<<20), float64(sysGrowth)/(1<<20), float64(peakSys)/(1<<20))
	const heapLimit, sysLimit = 32 << 20, 32 << 20
	if peakHeap > heapLimit {
		t.Errorf("peak HeapInuse %d bytes is over %d", peakHeap, heapLimit)
	}
	if sysGrowth > sysLimit {
		t.Errorf("Sys grew by %d bytes while decoding, over %d", sysGrowth, sysLimit)
	}
}
