package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/rootwatch/rootwatch/notify"
	"github.com/rootwatch/rootwatch/notify/expect"
)

// expectFlags are the planned-root-use settings of the commands that
// alert (run, backfill --alert).
type expectFlags struct {
	file      string
	pageRules []string
}

func (f *expectFlags) add(c *cobra.Command) {
	c.Flags().StringVar(&f.file, "expectations", "", settingUsage("expectations"))
	c.Flags().StringSliceVar(&f.pageRules, "expected-page-rules", notify.DefaultExpectedPageRules, settingUsage("expected-page-rules"))
}

// policy checks the settings and returns the dispatcher's Policy: the
// declarations in the table (when set) or the file, loaded once now so
// that a broken file or an unreadable table stops the start.
func (f *expectFlags) policy(log *zap.Logger, s dispatchSettings, awsCfg aws.Config) (notify.Policy, error) {
	var p notify.Policy
	p.ExpectedPageRules = []string{}
	// The defaults name built-in rules, absent with --no-builtin: only a
	// value someone set must name loaded rules.
	isDefault := slices.Equal(f.pageRules, notify.DefaultExpectedPageRules)
	for _, r := range f.pageRules {
		if r == "none" {
			continue
		}
		if s.rules != nil && !slices.Contains(s.rules, r) && !isDefault {
			return p, usageErr("ROOTWATCH_EXPECTED_PAGE_RULES: unknown rule %q", r)
		}
		p.ExpectedPageRules = append(p.ExpectedPageRules, r)
	}
	store, _, err := openExpectStore(s.dedupeTable, f.file, func() (aws.Config, error) { return awsCfg, nil })
	if err != nil || store == nil {
		return p, err
	}
	m := expect.NewMatcher(store, expect.Options{Logger: log.Named("expect"), Registerer: s.registerer})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.Load(ctx); err != nil {
		return p, usageErr("planned root use: %v", err)
	}
	p.Expectations = m
	return p, nil
}

// openExpectStore returns the declarations store: the DynamoDB table when
// one is set, else the YAML file, else nil. Setting both is an error (the
// file would be silently ignored). where names it for messages.
func openExpectStore(table, file string, awsConfig func() (aws.Config, error)) (store expect.Store, where string, err error) {
	switch {
	case table != "" && file != "":
		return nil, "", usageErr("ROOTWATCH_EXPECTATIONS and ROOTWATCH_DEDUPE_TABLE are both set: with the table, declarations of planned root use live in it (shared by replicas); unset ROOTWATCH_EXPECTATIONS")
	case table != "":
		cfg, err := awsConfig()
		if err != nil {
			return nil, "", err
		}
		s, err := expect.NewDynamoDB(dynamodb.NewFromConfig(cfg), table)
		if err != nil {
			return nil, "", usageErr("ROOTWATCH_DEDUPE_TABLE: %v", err)
		}
		return s, "DynamoDB table " + table, nil
	case file != "":
		return expect.NewFile(file), file, nil
	}
	return nil, "", nil
}

type expectCmdFlags struct {
	table, file string
}

func newExpectCmd(e *env) *cobra.Command {
	f := &expectCmdFlags{}
	c := &cobra.Command{
		Use:   "expect",
		Short: "Declare, list and end planned root use (alerts go to Slack marked expected, and do not page)",
		Long: `Planned root use (closing an account, a support plan change, a break-glass
drill) is declared ahead: while a declaration is active, alerts it covers still
go to Slack, marked "expected: REASON (declared by X, ends at T)", but do not
page, except the rules in ROOTWATCH_EXPECTED_PAGE_RULES. Declarations are
stored in the DynamoDB table (ROOTWATCH_DEDUPE_TABLE, shared by every replica)
or in a YAML file (ROOTWATCH_EXPECTATIONS), which the service reads again
within seconds.`,
		Example: `  rootwatch expect add --account 111122223333 --for 2h --reason "SEC-123 close sandbox"
  rootwatch expect add --account 111122223333 --for 30m --reason "SEC-124 drill" --rule root-console-login --source-cidr 203.0.113.0/24
  rootwatch expect list
  rootwatch expect end e-20261120-3f9a1c0b`,
	}
	c.PersistentFlags().StringVar(&f.table, "dedupe-table", "", settingUsage("dedupe-table"))
	c.PersistentFlags().StringVar(&f.file, "expectations", "", settingUsage("expectations"))
	c.AddCommand(newExpectAddCmd(e, f), newExpectListCmd(e, f), newExpectEndCmd(e, f))
	return c
}

// open returns the store the flags name; one is required.
func (f *expectCmdFlags) open(ctx context.Context) (expect.Store, string, error) {
	s, where, err := openExpectStore(f.table, f.file, func() (aws.Config, error) { return loadAWSConfig(ctx) })
	if err == nil && s == nil {
		err = usageErr("set ROOTWATCH_DEDUPE_TABLE (--dedupe-table) or ROOTWATCH_EXPECTATIONS (--expectations): where declarations are kept")
	}
	return s, where, err
}

// who returns the author of a change: --by, else the AWS caller identity
// when the store is the table, else $USER.
func (f *expectCmdFlags) who(ctx context.Context, e *env, by string) (string, error) {
	if by != "" {
		return by, nil
	}
	if f.table != "" {
		if cfg, err := loadAWSConfig(ctx); err == nil {
			out, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
			if err == nil && aws.ToString(out.Arn) != "" {
				return aws.ToString(out.Arn), nil
			}
			fmt.Fprintf(e.stderr, "rootwatch: cannot read the AWS caller identity (%v); using $USER\n", err)
		}
	}
	if u := e.getenv("USER"); u != "" {
		return u, nil
	}
	return "", usageErr("--by is required (no AWS caller identity and no $USER)")
}

func newExpectAddCmd(e *env, f *expectCmdFlags) *cobra.Command {
	var account, reason, by string
	var dur time.Duration
	var rules, cidrs []string
	c := &cobra.Command{
		Use:   "add --account ID --for DURATION --reason TEXT [--rule NAME]... [--source-cidr CIDR]... [--by NAME]",
		Short: "Declare planned root use in an account, from now on, for a while",
		Example: `  rootwatch expect add --account 111122223333 --for 2h --reason "SEC-123 close sandbox"
  rootwatch expect add --account 111122223333 --for 30m --reason "SEC-124 drill" --rule root-console-login --source-cidr 203.0.113.0/24`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			store, where, err := f.open(ctx)
			if err != nil {
				return err
			}
			author, err := f.who(ctx, e, by)
			if err != nil {
				return err
			}
			x, err := expect.Declare(time.Now(), account, dur, reason, author, rules, cidrs)
			if err != nil {
				return usageErr("%v", err)
			}
			if err := store.Add(ctx, x); err != nil {
				return expectErr(err)
			}
			fmt.Fprintf(e.stdout, "%s\texpected root use in %s until %s (%s): %s, declared by %s; stored in %s\n",
				x.ID, x.Account, x.Ends.Format(time.RFC3339), x.Scope(), x.Reason, x.By, where)
			return nil
		},
	}
	fs := c.Flags()
	fs.StringVar(&account, "account", "", "AWS account id (12 digits) the root use is planned in (required)")
	fs.DurationVar(&dur, "for", 0, fmt.Sprintf("how long from now (e.g. 2h; at most %s) (required)", expect.MaxDuration))
	fs.StringVar(&reason, "reason", "", "why, shown in alerts: a ticket and a few words (required)")
	fs.StringSliceVar(&rules, "rule", nil, "only these rules (repeat; default every rule)")
	fs.StringSliceVar(&cidrs, "source-cidr", nil, "only events from these networks (repeat; CIDR or address)")
	fs.StringVar(&by, "by", "", "who declares it (default the AWS caller identity with the table, else $USER)")
	return c
}

func newExpectListCmd(e *env, f *expectCmdFlags) *cobra.Command {
	var all bool
	c := &cobra.Command{
		Use:     "list [--all]",
		Short:   "List active and upcoming declarations of planned root use (--all: ended ones too)",
		Example: "  rootwatch expect list\n  rootwatch expect list --all",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			store, _, err := f.open(cmd.Context())
			if err != nil {
				return err
			}
			list, err := store.List(cmd.Context())
			if err != nil {
				return expectErr(err)
			}
			slices.SortFunc(list, func(a, b expect.Expectation) int { return a.Start.Compare(b.Start) })
			now := time.Now()
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tACCOUNT\tSTATE\tSTART\tENDS\tSCOPE\tREASON\tBY")
			for _, x := range list {
				state := "active"
				if now.Before(x.Start) {
					state = "upcoming" // a hand-written start in the future
				}
				if !now.Before(x.Ends) {
					if !all {
						continue
					}
					state = "ended"
					if x.EndedBy != "" {
						state = "ended by " + x.EndedBy
					}
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", x.ID, x.Account, state,
					x.Start.Format(time.RFC3339), x.Ends.Format(time.RFC3339), x.Scope(), x.Reason, x.By)
			}
			return tw.Flush()
		},
	}
	c.Flags().BoolVar(&all, "all", false, "also list declarations that have ended (kept for a day)")
	return c
}

func newExpectEndCmd(e *env, f *expectCmdFlags) *cobra.Command {
	var by string
	c := &cobra.Command{
		Use:     "end ID",
		Short:   "End a declaration of planned root use now",
		Example: "  rootwatch expect end e-20261120-3f9a1c0b",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			store, _, err := f.open(ctx)
			if err != nil {
				return err
			}
			author, err := f.who(ctx, e, by)
			if err != nil {
				return err
			}
			x, err := store.End(ctx, args[0], time.Now(), author)
			if err != nil {
				return expectErr(err)
			}
			fmt.Fprintf(e.stdout, "%s\tended at %s (%s)\n", x.ID, x.Ends.Format(time.RFC3339), x.Reason)
			return nil
		},
	}
	c.Flags().StringVar(&by, "by", "", "who ends it (default the AWS caller identity with the table, else $USER)")
	return c
}

// expectErr classifies a store error: a bad id or file is usage (exit 2),
// anything else a failure (exit 1).
func expectErr(err error) error {
	if errors.Is(err, expect.ErrNotFound) || errors.Is(err, expect.ErrExists) || errors.Is(err, expect.ErrInvalid) {
		return usageErr("%v", err)
	}
	return &exitError{code: exitPartial, err: err}
}
