package sinks

import (
	"strings"
	"testing"

	"github.com/rootwatch/rootwatch/internal/statetable"
)

// TestSinkNamesClearOfStatePrefixes: the dedupe ledger keys its items
// "<sink>#<alert key>" in the state table, so no sink's name may start
// another owner's registered prefix (a sink "thread" would write over
// Slack thread anchors).
func TestSinkNamesClearOfStatePrefixes(t *testing.T) {
	for _, d := range All {
		for p, owner := range statetable.Prefixes {
			if k := d.Name + "#"; strings.HasPrefix(k, p) || strings.HasPrefix(p, k) {
				t.Errorf("sink %q: its ledger keys %q run into prefix %q of %s", d.Name, k, p, owner)
			}
		}
	}
}
