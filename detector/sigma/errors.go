package sigma

import "fmt"

// Error is a rule that failed to load. Its message names the file, the line
// and the construct: "rules/x.yml:14: unsupported modifier "base64offset"
// on field "requestParameters.x"".
type Error struct {
	// File is the rule file as given to Parse.
	File string
	// Line is the 1-based line of the offending construct (0 if unknown).
	Line int
	// Msg describes the construct and the problem.
	Msg string
	// Err is the underlying error, if any (a YAML or regexp error).
	Err error
}

// Error implements error.
func (e *Error) Error() string {
	s := fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }
