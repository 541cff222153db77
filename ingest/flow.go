package ingest

import (
	"bytes"
	"time"

	"github.com/rootwatch/rootwatch/ingest/evaluate"
	"github.com/rootwatch/rootwatch/ingest/queue"
	"github.com/rootwatch/rootwatch/ingest/s3object"
)

// FlowObserver is told of every CloudTrail log object the pipeline read
// completely: its bucket, the account and region of its key, the key (as
// read), and the newest eventTime of its records (the key's time stamp
// when no record has one). The bucket and key let a gap in the flow be
// filled from the trail's archive later.
// It must be quick and safe for concurrent use; *watchdog.Watchdog
// implements it.
type FlowObserver interface {
	ObjectRead(bucket, account, region, key string, newestEvent time.Time)
}

// eventClock finds the newest eventTime of an object's records. A nil
// *eventClock does nothing.
type eventClock struct {
	raw       []byte // newest eventTime text seen
	newest    time.Time
	observeFn func([]byte) // c.observe, made once: a method value per record would allocate
}

func (p *Pipeline) newEventClock() *eventClock {
	if p.cfg.FlowObserver == nil {
		return nil
	}
	c := &eventClock{}
	c.observeFn = c.observe
	return c
}

// EventTimeMatcher is a Matcher that also hands each record's eventTime
// text to a callback from its own pass over the record, so that the event
// clock of the FlowObserver costs no second read of every record.
// *engine.Engine implements it.
type EventTimeMatcher = evaluate.EventTimeMatcher

// observe takes one record's eventTime text. CloudTrail writes it as
// 2006-01-02T15:04:05Z, whose text sorts like the time: only a larger text
// is parsed.
func (c *eventClock) observe(v []byte) {
	if len(v) == len(c.raw) && bytes.Compare(v, c.raw) <= 0 {
		return
	}
	t, err := time.Parse(time.RFC3339, string(v))
	if err != nil || !t.After(c.newest) {
		return
	}
	c.newest, c.raw = t.UTC(), append(c.raw[:0], v...)
}

func (c *eventClock) time() time.Time {
	if c == nil {
		return time.Time{}
	}
	return c.newest
}

// observeFlow tells the FlowObserver of an object read to the end.
func (p *Pipeline) observeFlow(res result, st objectStats) {
	if p.cfg.FlowObserver == nil || res.outcome != queue.Ack || !st.opened || st.records == 0 {
		return
	}
	account, region, written, ok := s3object.KeyLocation(st.ref.Key)
	if !ok {
		return
	}
	newest := st.newest
	if newest.IsZero() {
		newest = written
	}
	p.cfg.FlowObserver.ObjectRead(st.ref.Bucket, account, region, st.ref.Key, newest)
}
