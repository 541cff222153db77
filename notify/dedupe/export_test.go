package dedupe

// Emulator helpers for the external test package (replicas_test.go).
var LedgerClient = ledgerClient
