package ingest

import (
	"bytes"
	"time"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/detector/fields"
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

// eventTimePaths is the one field the event clock reads.
var eventTimePaths = mustCompile([][]string{{"eventTime"}})

func mustCompile(paths [][]string) *fields.Paths {
	p, err := fields.Compile(paths)
	if err != nil {
		panic(err)
	}
	return p
}

// eventClock finds the newest eventTime of an object's records. A nil
// *eventClock does nothing.
type eventClock struct {
	x         *fields.Extractor
	raw       []byte // newest eventTime text seen
	newest    time.Time
	observeFn func([]byte) // c.observe, made once: a method value per record would allocate
}

func (p *Pipeline) newEventClock() *eventClock {
	if p.cfg.FlowObserver == nil {
		return nil
	}
	c := &eventClock{x: eventTimePaths.NewExtractor()}
	c.observeFn = c.observe
	return c
}

// EventTimeMatcher is a Matcher that also hands each record's eventTime
// text to a callback from its own pass over the record, so that the event
// clock of the FlowObserver costs no second read of every record.
// *engine.Engine implements it.
type EventTimeMatcher interface {
	MatchEventTime(rec []byte, source string, dst []detector.Detection, eventTime func([]byte)) ([]detector.Detection, error)
}

// match runs the Matcher on rec, feeding the clock the record's eventTime:
// from the Matcher's own pass when it is an EventTimeMatcher, else by
// reading the record once more.
func (p *Pipeline) match(c *eventClock, rec []byte, source string, dst []detector.Detection) ([]detector.Detection, error) {
	if c == nil {
		return p.cfg.Matcher.Match(rec, source, dst)
	}
	if tm, ok := p.cfg.Matcher.(EventTimeMatcher); ok {
		return tm.MatchEventTime(rec, source, dst, c.observeFn)
	}
	dst, err := p.cfg.Matcher.Match(rec, source, dst)
	if err == nil {
		c.record(rec)
	}
	return dst, err
}

// record reads one record's eventTime with the clock's own extractor.
func (c *eventClock) record(rec []byte) {
	if c == nil {
		return
	}
	vs, err := c.x.Extract(rec)
	if err != nil || len(vs) == 0 || vs[0].Kind != fields.KindString {
		return
	}
	c.observe(vs[0].B)
}

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
