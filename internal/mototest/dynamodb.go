package mototest

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/rootwatch/rootwatch/internal/statetable"
)

// The attribute names of the state table as deploy/ creates it (package
// statetable holds its schema).
const (
	TablePK  = statetable.AttrPK
	TableTTL = statetable.AttrExpiresAt
)

// DynamoDB returns a DynamoDB client for endpoint (the server's Endpoint,
// or a SerialProxy's URL in front of it when conditional writes must be
// exclusive; see SerialProxy).
func (s *Server) DynamoDB(t testing.TB, endpoint string) *dynamodb.Client {
	t.Helper()
	return dynamodb.NewFromConfig(s.Config(t), func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(endpoint) })
}

// LedgerTable creates a fresh table shaped like the stack's dedupe table
// (partition key TablePK of type S, on-demand billing, TTL on TableTTL)
// and returns its name.
func LedgerTable(t testing.TB, c *dynamodb.Client) string {
	t.Helper()
	ctx := context.Background()
	name := Name("rootwatch-dedupe")
	if _, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String(TablePK), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String(TablePK), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	}); err != nil {
		t.Fatalf("mototest: CreateTable %s: %v", name, err)
	}
	if _, err := c.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName:               aws.String(name),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String(TableTTL), Enabled: aws.Bool(true)},
	}); err != nil {
		t.Fatalf("mototest: UpdateTimeToLive %s: %v", name, err)
	}
	return name
}
