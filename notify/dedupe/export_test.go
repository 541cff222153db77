package dedupe

// Emulator helpers for the external test package (replicas_test.go).
var (
	StartMoto    = startMoto
	DynamoClient = dynamoClient
	CreateTable  = createTable
)
