package notifytest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

var tables atomic.Int64

// DynamoDBTable returns a DynamoDB client for endpoint (a local emulator,
// or a mototest.SerialProxy in front of one for atomic conditional
// writes) and a new table shaped like ROOTWATCH_DEDUPE_TABLE: partition
// key "pk" of type S, no sort key.
func DynamoDBTable(t testing.TB, endpoint string) (*dynamodb.Client, string) {
	t.Helper()
	db := dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
	table := fmt.Sprintf("rootwatch-dedupe-t%d", tables.Add(1))
	if _, err := db.CreateTable(context.Background(), &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	}); err != nil {
		t.Fatalf("CreateTable %s: %v", table, err)
	}
	return db, table
}
