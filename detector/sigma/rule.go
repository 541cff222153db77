// Package sigma parses Sigma rules (YAML, the SigmaHQ specification) into a
// validated, line-annotated rule tree that detector/engine compiles.
//
// Parse accepts the subset of Sigma that rootwatch can evaluate exactly and
// rejects everything else at load time with an *Error naming the file, the
// line and the construct: a rule never loads in a form that would silently
// never fire.
//
// Supported: named selections written as a map (fields ANDed), a list of
// maps (ORed), field values that are strings, numbers, booleans or null,
// lists of values (ORed, or ANDed with the all modifier), field paths with
// dots, the modifiers contains, startswith, endswith, re (with its i, m and
// s sub-modifiers), all, cidr, exists, cased, fieldref (alone or with
// contains, startswith or endswith), gt, gte, lt and lte, Sigma's
// * and ? wildcards with \ escapes, and conditions built from and, or, not,
// parentheses, "1 of", "any of", "all of" a selection pattern or "them".
//
// Placeholders: the expand modifier replaces %name% in a value with the
// values Options.Placeholders gives for name (see Options and
// Rule.Unresolved).
//
// rootwatch extension: a rule may carry a top-level rootwatch map, which
// other Sigma tools ignore (a custom field):
//
//	rootwatch:
//	  escalate:                  # raise the level of a detection when
//	    level: critical          #   this condition (over the rule's own
//	    condition: by_root       #   selections) also holds;
//	    reason: root did it      #   optional: why, shown with the detection
//	  unresolved_level: medium   # see Rule.Unresolved
//
// Unknown keys in it are errors.
//
// Correlation rules (a document with a correlation section) parse into a
// Rule with Correlation set; see Correlation for what is supported.
// ParseAll reads files of several documents ("---"), as correlation rules
// and the rules they use are often written; Parse reads one document.
//
// Rejected: keyword selections, the modifiers windash, base64, base64offset,
// utf16, utf16le, utf16be and wide (and any unknown
// modifier), timeframe, and aggregations in conditions ("| count() by x >
// 5", deprecated by Sigma), whose error shows the equivalent correlation
// rule to write instead.
package sigma

import (
	"net/netip"
	"regexp"

	"github.com/rootwatch/rootwatch/detector"
)

// Rule is one parsed and validated Sigma rule.
type Rule struct {
	// File is the path the rule was loaded from, as given to Parse.
	File string
	// Title is the rule's title (required).
	Title string
	// ID is the rule's Sigma id, usually a UUID (optional).
	ID string
	// Name is rootwatch's short detection id ("root-console-login"), from the
	// rule's name field. SigmaHQ rules have no name field; for them Name is
	// derived from the file's base name without its extension
	// ("aws_root_account_usage.yml" gives "aws_root_account_usage").
	Name string
	// Description is the rule's description.
	Description string
	// Status is the rule's status (stable, test, experimental, ...).
	Status string
	// Author is the rule's author.
	Author string
	// Date is the rule's creation date as written.
	Date string
	// Modified is the rule's modification date as written.
	Modified string
	// Level is the rule's level (required).
	Level detector.Level
	// Tags are the rule's tags ("attack.t1078.004").
	Tags []string
	// FalsePositives lists known false positives.
	FalsePositives []string
	// References lists the rule's references (URLs).
	References []string
	// Fields lists the fields the rule suggests showing with a detection.
	Fields []string
	// Logsource is the rule's log source.
	Logsource Logsource
	// Detection holds the named selections, keyed by name.
	Detection map[string]*Selection
	// Condition is the parsed condition. A list of conditions in the YAML is
	// parsed as their OR.
	Condition *Node
	// ConditionText is the condition as written (several joined by " | or | "
	// are shown as "(a) or (b)").
	ConditionText string
	// Line is the line of the rule's first key.
	Line int

	// DeclaredLevel is the level written in the rule. Level differs from it
	// only for an Unscoped rule.
	DeclaredLevel detector.Level
	// Escalation, from the rootwatch extension, raises the level of a
	// detection when its condition holds too (nil when the rule has none).
	Escalation *Escalation
	// UnresolvedLevel, from the rootwatch extension (zero when absent), is
	// the rule's fallback for undefined placeholders.
	UnresolvedLevel detector.Level
	// Placeholders lists the placeholders the rule's expand values name,
	// sorted.
	Placeholders []string
	// Unresolved lists, sorted, the placeholders that had no value at load
	// time. Without an UnresolvedLevel such a rule fails to load. With one:
	// when none of the rule's placeholders has a value, the rule is Unscoped
	// (its placeholder values match any value and Level is UnresolvedLevel);
	// when some have values, values naming an undefined placeholder match
	// nothing (nothing of that kind is watched). Loaders should warn about
	// every rule with Unresolved placeholders.
	Unresolved []string
	// Unscoped is set when no placeholder of the rule had a value and the
	// UnresolvedLevel fallback applies.
	Unscoped bool

	// Correlation is set for a correlation rule (a document with a
	// correlation section): such a rule has no Detection, Condition or
	// Logsource, and the engine does not compile it; detector/correlate
	// evaluates it over the detections of the rules it refers to.
	Correlation *Correlation
	// Hidden marks a rule that a correlation of the same file refers to
	// with generate false (the default): its detections feed the
	// correlation but are not alerts of their own (see ParseAll).
	Hidden bool
}

// Escalation is the rootwatch extension's escalate entry.
type Escalation struct {
	// Level is the level of a detection for which Condition holds; it is
	// above the rule's declared level.
	Level detector.Level
	// Condition is evaluated, like the rule's condition, over the rule's
	// selections.
	Condition *Node
	// ConditionText is the condition as written.
	ConditionText string
	// Reason says why the level is raised ("a long-lived root access key
	// was used"); it becomes the detection's LevelReason. Empty when the
	// rule gives none (the engine then names the condition).
	Reason string
	// Line is the line of the escalate key.
	Line int
}

// Logsource is a Sigma log source.
type Logsource struct {
	// Product is e.g. "aws".
	Product string
	// Service is e.g. "cloudtrail".
	Service string
	// Category is e.g. "process_creation"; unused for CloudTrail.
	Category string
	// Line is the line of the logsource key (0 when absent).
	Line int
}

// Selection is a named detection item: the OR of its Maps. A selection
// written as a single map has one element in Maps.
type Selection struct {
	// Name is the selection's name in the detection section.
	Name string
	// Line is the line of the selection's name.
	Line int
	// Maps are ORed; each is an AND of field matches.
	Maps []*FieldMap
}

// FieldMap is one map of a selection: all its Matches must hold.
type FieldMap struct {
	// Line is the line where the map starts.
	Line int
	// Matches are ANDed, in file order.
	Matches []*FieldMatch
}

// Op is the comparison a FieldMatch applies to a field's value.
type Op uint8

// Comparison operators, one per Sigma modifier that selects a comparison.
const (
	// OpEquals is the default: the whole value matches the (wildcard) pattern.
	OpEquals Op = iota
	// OpContains: the pattern occurs anywhere in the value.
	OpContains
	// OpStartsWith: the value starts with the pattern.
	OpStartsWith
	// OpEndsWith: the value ends with the pattern.
	OpEndsWith
	// OpRegexp: the RE2 regular expression matches the value (case-sensitive
	// unless the i sub-modifier is given).
	OpRegexp
	// OpCIDR: the value is an IP address inside the prefix.
	OpCIDR
	// OpExists: the field is present (true) or absent (false).
	OpExists
	// OpGT: the value is a number greater than the rule's number.
	OpGT
	// OpGTE: greater than or equal.
	OpGTE
	// OpLT: less than.
	OpLT
	// OpLTE: less than or equal.
	OpLTE
)

var opNames = [...]string{"equals", "contains", "startswith", "endswith", "re", "cidr", "exists", "gt", "gte", "lt", "lte"}

// String returns the Sigma modifier name of the operator ("equals" for the
// default comparison).
func (o Op) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return "op?"
}

// FieldMatch is one field of a selection map with its modifiers and values.
type FieldMatch struct {
	// Field is the field name as written, without modifiers
	// ("userIdentity.type").
	Field string
	// Path is Field split on '.'.
	Path []string
	// Modifiers are the modifiers as written, in order.
	Modifiers []string
	// Op is the comparison.
	Op Op
	// All is set by the all modifier: every value must match instead of any.
	All bool
	// FieldRef is set by the fieldref modifier: each value names another
	// field (Value.Ref) whose value is compared with this field's, with Op
	// (equals, contains, startswith or endswith).
	FieldRef bool
	// Cased is set by the cased modifier: comparisons are case-sensitive.
	// Without it comparisons are case-insensitive (Unicode lower-casing of
	// both sides), except re which is case-sensitive unless re|i.
	Cased bool
	// Expand is set by the expand modifier: the values' %name% placeholders
	// were replaced at load time (one Value per expanded value).
	Expand bool
	// Never is set when every value named an undefined placeholder (see
	// Rule.Unresolved): the match never holds and Values is empty.
	Never bool
	// Values are the values to compare with; at least one unless Never.
	Values []*Value
	// Line is the line of the field key.
	Line int
}

// ValueKind is the YAML type of a rule value.
type ValueKind uint8

// Rule value kinds.
const (
	// ValueString is a YAML string.
	ValueString ValueKind = iota
	// ValueNumber is a YAML integer or float; Text is its literal text.
	ValueNumber
	// ValueBool is a YAML boolean; Text is "true" or "false".
	ValueBool
	// ValueNull is a YAML null (null, ~ or an empty value): the field is
	// absent or JSON null.
	ValueNull
)

// Value is one rule value, validated for its FieldMatch's Op.
type Value struct {
	// Kind is the YAML type.
	Kind ValueKind
	// Text is the value's text as written (YAML-unquoted). For booleans it
	// is "true" or "false".
	Text string
	// Line is the value's line.
	Line int
	// Glob is the wildcard pattern for OpEquals, OpContains, OpStartsWith
	// and OpEndsWith (string, number and bool values), with escapes
	// resolved. It does not include the implicit wildcards of contains,
	// startswith and endswith.
	Glob Glob
	// Ref is the referenced field's path (Text split on '.') when the
	// FieldMatch has FieldRef.
	Ref []string
	// Regexp is the compiled expression for OpRegexp (sub-modifier flags
	// already applied).
	Regexp *regexp.Regexp
	// Prefix is the masked prefix for OpCIDR.
	Prefix netip.Prefix
	// Exists is the wanted presence for OpExists.
	Exists bool
	// Number is the value for OpGT, OpGTE, OpLT and OpLTE.
	Number float64
	// Placeholder names the first undefined placeholder of an expand
	// value's template ("" for ordinary values). Such a value matches any
	// value in an Unscoped rule; in other rules it is removed.
	Placeholder string
}
