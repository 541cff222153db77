package mototest

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// DynamoDB returns a DynamoDB client for the server.
func (s *Server) DynamoDB(t testing.TB) *dynamodb.Client {
	return dynamodb.NewFromConfig(s.Config(t), func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(s.Endpoint) })
}

// DedupeTable creates a fresh table shaped like the stack's dedupe table
// (partition key "pk" of type S, on demand) and returns its name.
func (s *Server) DedupeTable(t testing.TB, api *dynamodb.Client) string {
	t.Helper()
	table := Name("dedupe")
	if _, err := api.CreateTable(t.Context(), &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	}); err != nil {
		t.Fatalf("create table %s: %v", table, err)
	}
	return table
}
