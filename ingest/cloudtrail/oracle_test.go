package cloudtrail

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// oracle computes, with encoding/json only, the records the package
// documentation promises for data (already decompressed): for each
// top-level value, the elements of its "Records" arrays, its EventBridge
// "detail", or the object itself. recs holds the records of the top-level
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

func oracleObject(obj json.RawMessage) ([][]byte, error) {
	if obj[0] != '{' {
		return nil, fmt.Errorf("%w: top-level %c", errOracleShape, obj[0])
	}
	dec := json.NewDecoder(bytes.NewReader(obj))
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	var (
		arrays        []json.RawMessage
		detail        json.RawMessage
		hasDetailType bool
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
		case key == "Records" && v[0] == '[':
			arrays = append(arrays, v)
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
			if err := json.Unmarshal(a, &elems); err != nil {
				return nil, err
			}
			for _, e := range elems {
				if e[0] != '{' {
					return recs, fmt.Errorf("%w: record %c", errOracleShape, e[0])
				}
				recs = append(recs, e)
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
	return [][]byte{obj}, nil
}
