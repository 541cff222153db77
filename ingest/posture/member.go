package posture

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
)

// AuditRootTaskPolicy is the AWS managed task policy of sts:AssumeRoot
// sessions that read a member root user's credentials.
const AuditRootTaskPolicy = "arn:aws:iam::aws:policy/root-task/IAMAuditRootUserCredentials"

// sessionSeconds is the length of the member sessions (900 s is the most
// AssumeRoot allows and the least AssumeRole does).
const sessionSeconds = 900

// memberSession is a way into a member account.
type memberSession struct {
	access string // AccessAssumeRoot or AccessRole
	cfg    aws.Config
}

// assumeRoot opens a root session in member id with the audit task
// policy.
func assumeRoot(ctx context.Context, api *sts.Client, base aws.Config, id string) (*memberSession, error) {
	out, err := api.AssumeRoot(ctx, &sts.AssumeRootInput{
		TargetPrincipal: aws.String(id),
		TaskPolicyArn:   &ststypes.PolicyDescriptorType{Arn: aws.String(AuditRootTaskPolicy)},
		DurationSeconds: aws.Int32(sessionSeconds),
	})
	if err != nil {
		return nil, wrapCall("sts:AssumeRoot", err)
	}
	return session(AccessAssumeRoot, base, out.Credentials)
}

// assumeRole opens a session of role name in member id.
func assumeRole(ctx context.Context, api *sts.Client, base aws.Config, partition, id, name string) (*memberSession, error) {
	out, err := api.AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn:         aws.String(fmt.Sprintf("arn:%s:iam::%s:role/%s", partition, id, name)),
		RoleSessionName: aws.String("rootwatch-audit"),
		DurationSeconds: aws.Int32(sessionSeconds),
	})
	if err != nil {
		return nil, wrapCall("sts:AssumeRole", err)
	}
	return session(AccessRole, base, out.Credentials)
}

func session(access string, base aws.Config, c *ststypes.Credentials) (*memberSession, error) {
	if c == nil || c.AccessKeyId == nil || c.SecretAccessKey == nil {
		return nil, errors.New("STS returned no credentials")
	}
	cfg := base.Copy()
	cfg.Credentials = aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(
		aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken)))
	return &memberSession{access: access, cfg: cfg}, nil
}
