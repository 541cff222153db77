package main

import (
	"os"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestStackSetsAllowedBuckets: the CloudFormation stack's task reads only
// the trail bucket (ROOTWATCH_ALLOWED_BUCKETS: !Ref TrailBucketName).
func TestStackSetsAllowedBuckets(t *testing.T) {
	b, err := os.ReadFile("../../deploy/cloudformation/rootwatch.yml")
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	found := false
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode {
			var name, value *yaml.Node
			for i := 0; i+1 < len(n.Content); i += 2 {
				switch n.Content[i].Value {
				case "Name":
					name = n.Content[i+1]
				case "Value":
					value = n.Content[i+1]
				}
			}
			if name != nil && name.Value == "ROOTWATCH_ALLOWED_BUCKETS" {
				found = true
				if value == nil || value.Tag != "!Ref" || value.Value != "TrailBucketName" {
					t.Errorf("ROOTWATCH_ALLOWED_BUCKETS is set to %+v, want !Ref TrailBucketName", value)
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&doc)
	if !found {
		t.Error("the stack does not set ROOTWATCH_ALLOWED_BUCKETS on the task")
	}
}
