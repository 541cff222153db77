package queue

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// stubAPI fails every call; it lets New be tested without a server.
type stubAPI struct{}

var errStub = errors.New("stub API: not callable")

func (stubAPI) ReceiveMessage(context.Context, *sqs.ReceiveMessageInput, ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	return nil, errStub
}

func (stubAPI) DeleteMessageBatch(context.Context, *sqs.DeleteMessageBatchInput, ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	return nil, errStub
}

func (stubAPI) ChangeMessageVisibilityBatch(context.Context, *sqs.ChangeMessageVisibilityBatchInput, ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error) {
	return nil, errStub
}
