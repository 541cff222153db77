package detector

import "testing"

func TestCredentialKindOf(t *testing.T) {
	for _, tt := range []struct{ key, want string }{
		{"", CredentialNone},
		{"AKIAY34FZKBOROOTKEY1", CredentialLongLivedKey},
		{"ASIAY34FZKBOCONSOLE1", CredentialTemporarySession},
		{"akiay34fzkborootkey1", CredentialUnknown}, // key ids are upper case: not guessed
		{"ABIAEXAMPLE", CredentialUnknown},
		{"AKI", CredentialUnknown},
	} {
		if got := CredentialKindOf(tt.key); got != tt.want {
			t.Errorf("CredentialKindOf(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
}

func TestCredentialSessionOf(t *testing.T) {
	for _, tt := range []struct {
		name                 string
		kind, identityType   string
		assumedRoot, console bool
		invBy, want          string
	}{
		{"assumed root", CredentialTemporarySession, "Root", true, false, "", SessionAssumedRoot},
		// The AssumeRoot caller's own record carries assumedRoot too, but
		// it is a role, not root in a member account.
		{"AssumeRoot caller is not an assumed-root session", CredentialTemporarySession, "AssumedRole", true, false, "", ""},
		{"console flag", CredentialTemporarySession, "Root", false, true, "", SessionConsole},
		{"invoked by signin", CredentialTemporarySession, "Root", false, false, "signin.amazonaws.com", SessionConsole},
		{"temporary, record does not tell", CredentialTemporarySession, "Root", false, false, "", ""},
		{"long-lived key never has a session", CredentialLongLivedKey, "Root", true, true, "", ""},
		{"no key", CredentialNone, "Root", false, true, "", ""},
	} {
		if got := CredentialSessionOf(tt.kind, tt.identityType, tt.assumedRoot, tt.console, tt.invBy); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}
