package sns

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/arn"
)

// DefaultTimeout bounds one Publish call.
const DefaultTimeout = 10 * time.Second

// Config configures the SNS sink. It holds no secret: the credentials come
// from the AWS SDK's configuration (task role, environment), never from
// here, and the sink never prints them.
type Config struct {
	// TopicARN is the topic every alert is published to
	// (ROOTWATCH_SNS_TOPIC_ARN). A name ending ".fifo" makes it a FIFO
	// topic: each message then carries a group id and a deduplication id.
	TopicARN string
	// Timeout bounds each Publish call; DefaultTimeout when zero.
	Timeout time.Duration
	// ConsoleURL overrides the AWS console base URL of event links, for
	// partitions other than aws; see notify.ConsoleEventURL.
	ConsoleURL string
}

// topicName is an SNS topic name: 1 to 256 letters, digits, hyphens and
// underscores; a FIFO topic's name ends in ".fifo".
var topicName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)

// accountID is a 12-digit AWS account id.
var accountID = regexp.MustCompile(`^[0-9]{12}$`)

// Topic is a parsed SNS topic ARN.
type Topic struct {
	// ARN is the topic ARN as given.
	ARN string
	// Region is the topic's region: Publish goes to it.
	Region string
	// Name is the topic name, ".fifo" included.
	Name string
	// FIFO reports a FIFO topic.
	FIFO bool
}

// ParseTopicARN checks that s is an SNS topic ARN
// (arn:PARTITION:sns:REGION:ACCOUNT:NAME) and returns its parts. Its
// errors quote s, which is not a secret.
func ParseTopicARN(s string) (Topic, error) {
	if strings.TrimSpace(s) != s || s == "" {
		return Topic{}, fmt.Errorf("topic ARN %q is empty or has surrounding white space", s)
	}
	a, err := arn.Parse(s)
	if err != nil {
		return Topic{}, fmt.Errorf("topic ARN %q: %w", s, err)
	}
	name := strings.TrimSuffix(a.Resource, ".fifo")
	switch {
	case a.Service != "sns":
		return Topic{}, fmt.Errorf("topic ARN %q: service is %q, want sns", s, a.Service)
	case a.Region == "":
		return Topic{}, fmt.Errorf("topic ARN %q: no region", s)
	case !accountID.MatchString(a.AccountID):
		return Topic{}, fmt.Errorf("topic ARN %q: account %q is not 12 digits", s, a.AccountID)
	case !topicName.MatchString(name) || len(a.Resource) > 256:
		return Topic{}, fmt.Errorf("topic ARN %q: %q is not a topic name (1-256 letters, digits, - and _, FIFO topics end in .fifo)", s, a.Resource)
	}
	return Topic{ARN: s, Region: a.Region, Name: a.Resource, FIFO: strings.HasSuffix(a.Resource, ".fifo")}, nil
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	if _, err := ParseTopicARN(c.TopicARN); err != nil {
		return fmt.Errorf("sns: %w", err)
	}
	if c.Timeout < 0 {
		return errors.New("sns: negative timeout")
	}
	return nil
}
