package deploy_test

import (
	"strings"
	"testing"
)

// TestTrailHealthIsConditioned: the cloudtrail read calls of the trail
// health checker are granted, and ROOTWATCH_TRAILS set from the Trails
// parameter, only when the stack is given trails (condition HasTrails).
func TestTrailHealthIsConditioned(t *testing.T) {
	doc := loadTemplate(t)
	if get(doc, "Parameters", "Trails") == nil || get(doc, "Conditions", "HasTrails") == nil {
		t.Fatal("no Trails parameter or HasTrails condition")
	}
	var granted bool
	for _, p := range items(get(doc, "Resources", "TaskRole", "Properties", "Policies")) {
		for _, s := range items(get(p, "PolicyDocument", "Statement")) {
			for _, a := range items(get(unIf(s), "Action")) {
				if !strings.HasPrefix(a.Value, "cloudtrail:") || a.Value == "cloudtrail:LookupEvents" {
					continue // LookupEvents: the start-up backfill, not the trail checker
				}
				granted = true
				if s.Tag != "!If" || s.Content[0].Value != "HasTrails" {
					t.Errorf("%s is granted without the HasTrails condition (line %d)", a.Value, a.Line)
				}
			}
		}
	}
	if !granted {
		t.Error("the task role grants no cloudtrail action")
	}
	var set bool
	for _, c := range items(get(doc, "Resources", "TaskDefinition", "Properties", "ContainerDefinitions")) {
		for _, e := range items(get(c, "Environment")) {
			if n := get(unIf(e), "Name"); n == nil || n.Value != "ROOTWATCH_TRAILS" {
				continue
			}
			set = true
			if v := get(unIf(e), "Value"); e.Tag != "!If" || e.Content[0].Value != "HasTrails" || v == nil || v.Tag != "!Ref" || v.Value != "Trails" {
				t.Errorf("ROOTWATCH_TRAILS must be !If [HasTrails, {Value: !Ref Trails}, !Ref AWS::NoValue] (line %d)", e.Line)
			}
		}
	}
	if !set {
		t.Error("the task does not get ROOTWATCH_TRAILS")
	}
}
