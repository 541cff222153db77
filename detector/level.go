package detector

import (
	"fmt"
	"strings"
)

// Level is a Sigma rule level, ordered from least to most severe.
type Level int

// The Sigma levels, in increasing severity. LevelUnknown is the zero value
// and never appears on a loaded rule.
const (
	LevelUnknown Level = iota
	LevelInformational
	LevelLow
	LevelMedium
	LevelHigh
	LevelCritical
)

var levelNames = [...]string{"unknown", "informational", "low", "medium", "high", "critical"}

// String returns the Sigma spelling of the level ("high").
func (l Level) String() string {
	if l < 0 || int(l) >= len(levelNames) {
		return fmt.Sprintf("level(%d)", int(l))
	}
	return levelNames[l]
}

// ParseLevel parses a Sigma level name, case-insensitively.
func ParseLevel(s string) (Level, error) {
	ls := strings.ToLower(strings.TrimSpace(s))
	for i := LevelInformational; i <= LevelCritical; i++ {
		if levelNames[i] == ls {
			return i, nil
		}
	}
	return LevelUnknown, fmt.Errorf("unknown level %q (want informational, low, medium, high or critical)", s)
}

// MarshalText implements encoding.TextMarshaler.
func (l Level) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (l *Level) UnmarshalText(b []byte) error {
	v, err := ParseLevel(string(b))
	if err != nil {
		return err
	}
	*l = v
	return nil
}
