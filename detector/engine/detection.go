package engine

import (
	"bytes"
	"time"

	"github.com/valyala/fastjson"

	"github.com/rootwatch/rootwatch/detector"
)

// detectionFields fills the record-derived fields of a Detection (see the
// field docs of detector.Detection). It runs only for matching records.
// rec must be valid JSON (it passed extraction); Record is set to rec.
func detectionFields(p *fastjson.Parser, rec []byte, source string) detector.Detection {
	d := detector.Detection{Source: source, Record: rec}
	v, err := p.ParseBytes(rec)
	if err != nil {
		return d
	}
	str := func(keys ...string) string {
		f := v.Get(keys...)
		if f == nil || f.Type() != fastjson.TypeString {
			return ""
		}
		b, _ := f.StringBytes()
		return string(b)
	}
	d.EventID = str("eventID")
	d.EventName = str("eventName")
	d.EventSource = str("eventSource")
	d.EventType = str("eventType")
	if t, err := time.Parse(time.RFC3339, str("eventTime")); err == nil {
		d.EventTime = t.UTC()
	}
	d.AccountID = str("recipientAccountId")
	if d.AccountID == "" {
		d.AccountID = str("userIdentity", "accountId")
	}
	d.Region = str("awsRegion")
	d.SourceIP = str("sourceIPAddress")
	d.UserAgent = str("userAgent")
	d.IdentityType = str("userIdentity", "type")
	d.Principal = str("userIdentity", "arn")
	if d.Principal == "" {
		d.Principal = d.IdentityType
	}
	d.AccessKeyID = str("userIdentity", "accessKeyId")
	d.InvokedBy = str("userIdentity", "invokedBy")
	d.CredentialKind = detector.CredentialKindOf(d.AccessKeyID)
	isTrue := func(keys ...string) bool { // "true", any case, without a copy
		f := v.Get(keys...)
		if f == nil || f.Type() != fastjson.TypeString {
			return false
		}
		b, _ := f.StringBytes()
		return bytes.EqualFold(b, []byte("true"))
	}
	d.CredentialSession = detector.CredentialSessionOf(d.CredentialKind, d.IdentityType,
		isTrue("userIdentity", "sessionContext", "assumedRoot"), isTrue("sessionCredentialFromConsole"), d.InvokedBy)
	switch str("additionalEventData", "MFAUsed") {
	case "Yes":
		t := true
		d.MFAUsed = &t
	case "No":
		f := false
		d.MFAUsed = &f
	}
	d.Outcome = str("responseElements", "ConsoleLogin")
	d.ErrorCode = str("errorCode")
	d.ErrorMessage = str("errorMessage")
	d.Target = str("requestParameters", "targetPrincipal")
	return d
}
