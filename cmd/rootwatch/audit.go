package main

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/rootwatch/rootwatch/ingest/posture"
	"github.com/rootwatch/rootwatch/ingest/s3object"
	"github.com/rootwatch/rootwatch/ingest/trailhealth"
)

// roleNameRE accepts IAM role names (--member-role).
var roleNameRE = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)

// auditScope are the settings that say what an audit covers, shared by
// `audit` and the periodic audit of `run`.
type auditScope struct {
	org            bool
	companyDomains []string
	memberRole     string
}

func (s *auditScope) add(c *cobra.Command) {
	fs := c.Flags()
	fs.BoolVar(&s.org, "org", false, settingUsage("org"))
	fs.StringSliceVar(&s.companyDomains, "company-domains", nil, settingUsage("company-domains"))
	fs.StringVar(&s.memberRole, "member-role", "", settingUsage("member-role"))
}

func (s *auditScope) validate() error {
	for _, d := range s.companyDomains {
		if strings.ContainsAny(d, "@/ ") || !strings.Contains(d, ".") {
			return usageErr("ROOTWATCH_COMPANY_DOMAINS: %q is not a domain (example.com)", d)
		}
	}
	if s.memberRole != "" && !roleNameRE.MatchString(s.memberRole) {
		return usageErr("ROOTWATCH_MEMBER_ROLE: %q is not a role name (the name only, not an ARN)", s.memberRole)
	}
	return nil
}

// config is the auditor configuration of s.
func (s *auditScope) config(awsCfg aws.Config, names map[string]string, trails []string, log *zap.Logger) posture.Config {
	return posture.Config{AWS: awsCfg, Organization: s.org, CompanyDomains: s.companyDomains, MemberRole: s.memberRole,
		Names: names, Trails: trails, Logger: log}
}

type auditFlags struct {
	scope    auditScope
	accounts string
	trails   []string
	format   string
	failOn   string
}

func newAuditCmd(e *env) *cobra.Command {
	f := &auditFlags{}
	c := &cobra.Command{
		Use:   "audit [--org] [--accounts ID,...] [--company-domains example.com,...] [--format text|json] [--fail-on warn|fail]",
		Short: "Check accounts' root users against the practices: MFA, no keys, no use, a list e-mail, a security contact",
		Long: `Audit checks the root user of the caller's account, or of every account of its
organization (--org), against the practices rootwatch exists for:

  root-mfa          root has MFA (a hardware key or passkey is better than a virtual device)
  root-access-keys  root has no access keys (their age and last use when it has)
  root-recent-use   root's password or keys were not used in the last 90 days
  root-email        the root e-mail is in a company domain (--company-domains), not at a
                    free-mail provider, and not one person's mailbox (first.last warns)
  security-contact  an alternate security contact is set (AWS security notices reach a team)
  central-root      organizations: centralized root access is on (RootCredentialsManagement,
                    RootSessions) and member roots have no credentials at all
  rootwatch-trail   with --trails: a watched trail logs management events in all regions

Member accounts are read through sts:AssumeRoot with the IAMAuditRootUserCredentials
task policy, or through --member-role where centralized root access is off. A
check that cannot be made is "could-not-check" with the missing permission, never
a pass.

Exit status: 0 when no check is at or above --fail-on (could-not-check counts
at warn and above), 1 when one is, 2 on bad usage or when nothing could be
audited.`,
		Example: `  rootwatch audit
  rootwatch audit --org --company-domains example.com
  rootwatch audit --org --format json --fail-on warn > root-posture.json
  rootwatch audit --accounts 111122223333,444455556666 --member-role OrganizationAccountAccessRole`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			level, _ := cmd.Flags().GetString("log-level")
			format, _ := cmd.Flags().GetString("log-format")
			return runAudit(cmd.Context(), e, f, level, format)
		},
	}
	f.scope.add(c)
	fs := c.Flags()
	fs.StringVar(&f.accounts, "accounts", "", settingUsage("accounts"))
	fs.StringSliceVar(&f.trails, "trails", nil, settingUsage("trails"))
	fs.StringVar(&f.format, "format", "text", "output format: text (a table) or json")
	fs.StringVar(&f.failOn, "fail-on", "fail", "exit 1 when a check is at or above this status: warn or fail")
	return c
}

// parseAuditAccounts parses --accounts: account ids, each optionally
// with a name (111122223333=prod).
func parseAuditAccounts(s string) (ids []string, names map[string]string, err error) {
	names = map[string]string{}
	for _, item := range splitList(s) {
		id, name, _ := strings.Cut(item, "=")
		id, name = strings.TrimSpace(id), strings.TrimSpace(name)
		if !s3object.IsAccountID(id) {
			return nil, nil, usageErr("ROOTWATCH_ACCOUNTS: %q is not a 12-digit account id", id)
		}
		ids = append(ids, id)
		if name != "" {
			names[id] = name
		}
	}
	return ids, names, nil
}

func runAudit(ctx context.Context, e *env, f *auditFlags, level, logFormat string) error {
	if f.format != "text" && f.format != "json" {
		return usageErr("--format: %q is not text or json", f.format)
	}
	failOn, ok := posture.ParseStatus(f.failOn)
	if !ok || (failOn != posture.StatusWarn && failOn != posture.StatusFail) {
		return usageErr("--fail-on: %q is not warn or fail", f.failOn)
	}
	if err := f.scope.validate(); err != nil {
		return err
	}
	for _, t := range f.trails {
		if err := trailhealth.ValidateTrail(t); err != nil {
			return usageErr("ROOTWATCH_TRAILS: %v", err)
		}
	}
	ids, names, err := parseAuditAccounts(f.accounts)
	if err != nil {
		return err
	}
	log, err := newLogger(level, logFormat, e.stderr)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	awsCfg, err := loadAWSConfig(ctx)
	if err != nil {
		return err
	}
	cfg := f.scope.config(awsCfg, names, f.trails, log.Named("audit"))
	cfg.Accounts = ids
	prog := newProgress(e.stderr)
	cfg.Progress = func(done, total int) {
		prog.update(float64(done)/float64(total), fmt.Sprintf("%d/%d accounts audited", done, total))
	}
	a, err := posture.New(cfg)
	if err != nil {
		return usageErr("%v", err)
	}
	rep, err := a.Run(ctx)
	prog.done()
	if err != nil {
		return usageErr("audit: %v", err)
	}
	if f.format == "json" {
		err = posture.WriteJSON(e.stdout, rep)
	} else {
		err = posture.WriteText(e.stdout, rep, isTerminal(e.stdout) && e.getenv("NO_COLOR") == "")
	}
	if err != nil {
		return &exitError{code: exitPartial, err: fmt.Errorf("write the report: %w", err)}
	}
	if rep.AtOrAbove(failOn) {
		return &exitError{code: exitPartial, err: fmt.Errorf("root posture: a check is at or above %s", failOn)}
	}
	return nil
}

// auditService are the periodic audit settings of `run`.
type auditService struct {
	scope    auditScope
	interval time.Duration
}

func (s *auditService) add(c *cobra.Command) {
	s.scope.add(c)
	c.Flags().DurationVar(&s.interval, "audit-interval", 0, settingUsage("audit-interval"))
}

func (s *auditService) validate() error {
	if s.interval < 0 || (s.interval != 0 && s.interval < time.Second) {
		return usageErr("ROOTWATCH_AUDIT_INTERVAL: %s is under 1s (0 disables the audit)", s.interval)
	}
	return s.scope.validate()
}

// start runs the periodic root posture audit in a goroutine when
// ROOTWATCH_AUDIT_INTERVAL is set; the returned func stops it and waits
// for it.
func (s *auditService) start(ctx context.Context, awsCfg aws.Config, names map[string]string, trails []string,
	d posture.Deliverer, reg prometheus.Registerer, log *zap.Logger) (func(), error) {
	if s.interval == 0 {
		return func() {}, nil
	}
	a, err := posture.New(s.scope.config(awsCfg, names, trails, log))
	if err != nil {
		return nil, usageErr("ROOTWATCH_AUDIT_INTERVAL: %v", err)
	}
	w, err := posture.NewWatcher(posture.WatchConfig{Auditor: a, Interval: s.interval, Deliverer: d,
		Metrics: posture.NewMetrics(reg), Logger: log})
	if err != nil {
		return nil, usageErr("ROOTWATCH_AUDIT_INTERVAL: %v", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { w.Run(ctx) })
	log.Info("root posture audit started", zap.Duration("interval", s.interval), zap.Bool("organization", s.scope.org))
	return func() { cancel(); wg.Wait() }, nil
}
