package fields_test

import (
	"fmt"

	"github.com/rootwatch/rootwatch/detector/fields"
)

func Example() {
	paths, err := fields.Compile([][]string{
		{"eventName"},
		{"userIdentity", "type"},
		{"additionalEventData", "MFAUsed"},
		{"resources", "ARN"},
	})
	if err != nil {
		panic(err)
	}
	x := paths.NewExtractor()
	rec := []byte(`{"eventName":"ConsoleLogin","userIdentity":{"type":"Root"},` +
		`"resources":[{"ARN":"arn:aws:iam::123456789012:root"}]}`)
	vals, err := x.Extract(rec)
	if err != nil {
		panic(err)
	}
	for _, v := range vals {
		fmt.Printf("%s %q rest=%d\n", v.Kind, v.B, v.Rest)
	}
	// Output:
	// string "ConsoleLogin" rest=0
	// string "Root" rest=0
	// absent "" rest=0
	// array "[{\"ARN\":\"arn:aws:iam::123456789012:root\"}]" rest=1
}
