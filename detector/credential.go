package detector

import "strings"

// The values of Detection.CredentialKind: which kind of credential signed
// the call the record logs.
const (
	// CredentialLongLivedKey is an IAM access key that does not expire
	// (userIdentity.accessKeyId starts with AKIA). For root it is a root
	// access key, which a well-run account does not have at all.
	CredentialLongLivedKey = "long_lived_key"
	// CredentialTemporarySession is a temporary STS credential
	// (userIdentity.accessKeyId starts with ASIA): a console session or a
	// session from sts:AssumeRoot, AssumeRole, GetSessionToken...
	// Detection.CredentialSession says which when the record tells.
	CredentialTemporarySession = "temporary_session"
	// CredentialNone means no access key signed the event: console sign-in
	// events (ConsoleLogin, PasswordUpdated, ...) and records without
	// userIdentity.accessKeyId.
	CredentialNone = "none"
	// CredentialUnknown is an access key id with any other prefix; it is
	// reported as such rather than guessed.
	CredentialUnknown = "unknown"
)

// The values of Detection.CredentialSession: what a temporary session is,
// when the record says so.
const (
	// SessionConsole is a console session (top-level
	// sessionCredentialFromConsole "true", or userIdentity.invokedBy
	// signin.amazonaws.com).
	SessionConsole = "console"
	// SessionAssumedRoot is a centralized-root session obtained with
	// sts:AssumeRoot: userIdentity.type Root with
	// userIdentity.sessionContext.assumedRoot "true".
	SessionAssumedRoot = "assumed_root"
)

// CredentialKindOf classifies an access key id (userIdentity.accessKeyId)
// into one of the Credential* values. Access key ids are upper case; the
// prefix is compared exactly.
func CredentialKindOf(accessKeyID string) string {
	switch {
	case accessKeyID == "":
		return CredentialNone
	case strings.HasPrefix(accessKeyID, "AKIA"):
		return CredentialLongLivedKey
	case strings.HasPrefix(accessKeyID, "ASIA"):
		return CredentialTemporarySession
	}
	return CredentialUnknown
}

// CredentialSessionOf says what a temporary session is, from the record's
// fields: identityType is userIdentity.type, assumedRoot whether
// userIdentity.sessionContext.assumedRoot is "true", fromConsole whether
// the top-level sessionCredentialFromConsole is "true", and invokedBy
// userIdentity.invokedBy. It returns "" when kind is not
// CredentialTemporarySession or the record does not tell.
func CredentialSessionOf(kind, identityType string, assumedRoot, fromConsole bool, invokedBy string) string {
	if kind != CredentialTemporarySession {
		return ""
	}
	switch {
	case identityType == "Root" && assumedRoot:
		return SessionAssumedRoot
	case fromConsole || invokedBy == "signin.amazonaws.com":
		return SessionConsole
	}
	return ""
}
