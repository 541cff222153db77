package cloudtrail

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// oracle computes, with encoding/json only, the records the package
// documentation promises for data (already decompressed): for each
// top-level value, the elements of its "Records" arrays and the decoded
// CloudTrailEvent strings of the elements of its "Events" arrays (in
// order), its EventBridge "detail", an error for a digest file, or the
// object itself. recs holds the records of the top-level
// values that decoded completely before err.
func oracle(data []byte) (recs [][]byte, err error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err == io.EOF {
			return recs, nil
		} else if err != nil {
			return recs, err
		}
		got, err := oracleObject(raw)
		if err != nil {
			return recs, err
		}
		recs = append(recs, got...)
	}
}

var errOracleShape = errors.New("oracle: not an accepted shape")

// oracleArray is one Records or Events array of a top-level object.
type oracleArray struct {
	events bool
	raw    json.RawMessage
}

func oracleObject(obj json.RawMessage) ([][]byte, error) {
	if obj[0] != '{' {
		return nil, fmt.Errorf("%w: top-level %c", errOracleShape, obj[0])
	}
	dec := json.NewDecoder(bytes.NewReader(obj))
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	var (
		arrays        []oracleArray
		detail        json.RawMessage
		hasDetailType bool
		digestKeys    int
	)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		switch {
		case (key == "Records" || key == "Events") && v[0] == '[':
			arrays = append(arrays, oracleArray{events: key == "Events", raw: v})
		case key == "digestStartTime":
			digestKeys |= 1
		case key == "digestEndTime":
			digestKeys |= 2
		case key == "detail":
			detail = v
		case key == "detail-type":
			hasDetailType = true
		}
	}
	if len(arrays) > 0 {
		var recs [][]byte
		for _, a := range arrays {
			var elems []json.RawMessage
			if err := json.Unmarshal(a.raw, &elems); err != nil {
				return nil, err
			}
			for _, e := range elems {
				if e[0] != '{' {
					return recs, fmt.Errorf("%w: record %c", errOracleShape, e[0])
				}
				if !a.events {
					recs = append(recs, e)
					continue
				}
				var ev map[string]json.RawMessage
				if err := json.Unmarshal(e, &ev); err != nil {
					return recs, err
				}
				var s string
				if raw := ev["CloudTrailEvent"]; len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
					return recs, fmt.Errorf("%w: no CloudTrailEvent string", errOracleShape)
				}
				s = strings.Trim(s, " \t\r\n")
				if len(s) < 2 || s[0] != '{' || s[len(s)-1] != '}' {
					return recs, fmt.Errorf("%w: CloudTrailEvent %q", errOracleShape, s)
				}
				recs = append(recs, []byte(s))
			}
		}
		return recs, nil
	}
	if hasDetailType && detail != nil {
		if detail[0] != '{' {
			return nil, fmt.Errorf("%w: detail %c", errOracleShape, detail[0])
		}
		return [][]byte{detail}, nil
	}
	if digestKeys == 3 {
		return nil, fmt.Errorf("%w: digest file", errOracleShape)
	}
	return [][]byte{obj}, nil
}
