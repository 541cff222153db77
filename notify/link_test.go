package notify

import (
	"strings"
	"testing"
)

func TestConsoleEventURL(t *testing.T) {
	const id = "3d4c5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f"
	tests := []struct {
		name, base, region, id, want string
	}{
		{"commercial", "", "us-east-1", id, "https://us-east-1.console.aws.amazon.com/cloudtrailv2/home?region=us-east-1#/events/" + id},
		{"three-part region", "", "ap-southeast-2", id, "https://ap-southeast-2.console.aws.amazon.com/cloudtrailv2/home?region=ap-southeast-2#/events/" + id},
		{"govcloud base", "https://console.amazonaws-us-gov.com/", "us-gov-west-1", id, "https://console.amazonaws-us-gov.com/cloudtrailv2/home?region=us-gov-west-1#/events/" + id},
		{"region with host injection", "", "evil.example/x?", id, ""},
		{"region with link label", "", "us-east-1|AWS", id, ""},
		{"empty region", "", "", id, ""},
		{"event id with fragment", "", "us-east-1", id + "#x", ""},
		{"event id with link close", "", "us-east-1", "abc>|<https://evil", ""},
		{"empty event id", "", "us-east-1", "", ""},
		{"overlong event id", "", "us-east-1", strings.Repeat("a", 129), ""},
	}
	for _, tt := range tests {
		if got := ConsoleEventURL(tt.base, tt.region, tt.id); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}
