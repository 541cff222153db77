package posture

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/account"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"go.uber.org/zap"
)

// Defaults of Config.
const (
	DefaultConcurrency  = 8
	DefaultRecentWindow = defaultRecentDays * 24 * time.Hour
	DefaultReportWait   = 2 * time.Second
	// maxAttempts is how many times a throttled or failed call is tried
	// (the SDK's standard retryer, exponential backoff with jitter).
	maxAttempts = 10
	maxBackoff  = 20 * time.Second
	// accountTimeout bounds the audit of one account.
	accountTimeout = 5 * time.Minute
)

// Config configures an Auditor.
type Config struct {
	// AWS is the caller's configuration (required).
	AWS aws.Config
	// Organization audits every active account of the caller's
	// organization (the caller is its management account or a delegated
	// administrator).
	Organization bool
	// Accounts, when set, are the only accounts audited. Without
	// Organization, accounts other than the caller's need MemberRole.
	Accounts []string
	// Names are account names shown in reports (the organization's names
	// otherwise).
	Names map[string]string
	// CompanyDomains are the domains a root e-mail may be in.
	CompanyDomains []string
	// MemberRole is a role name assumable in member accounts, used where
	// sts:AssumeRoot is not possible (centralized root access off).
	MemberRole string
	// Trails are the trails rootwatch reads (ROOTWATCH_TRAILS); empty
	// leaves the rootwatch-trail check out.
	Trails []string
	// Concurrency is how many accounts are audited at once
	// (DefaultConcurrency when 0).
	Concurrency int
	// RecentWindow is how recent a root use warns (DefaultRecentWindow
	// when 0).
	RecentWindow time.Duration
	// ReportWait is the time between polls of a credential report being
	// generated (DefaultReportWait when 0).
	ReportWait time.Duration
	// Progress, when set, is called after each account (done of total).
	Progress func(done, total int)
	// Logger; zap.NewNop() when nil.
	Logger *zap.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Auditor audits root posture. It is safe for use by one goroutine at a
// time.
type Auditor struct {
	cfg  Config
	log  *zap.Logger
	iam  *iam.Client
	orgs *organizations.Client
	acct *account.Client
	sts  *sts.Client
	ct   *cloudtrail.Client
}

// New returns an Auditor for cfg.
func New(cfg Config) (*Auditor, error) {
	if cfg.AWS.Credentials == nil && cfg.AWS.Region == "" {
		return nil, errors.New("posture: no AWS configuration")
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.Concurrency < 0 || cfg.Concurrency > 64 {
		return nil, fmt.Errorf("posture: concurrency %d is out of range 1-64", cfg.Concurrency)
	}
	if cfg.RecentWindow == 0 {
		cfg.RecentWindow = DefaultRecentWindow
	}
	if cfg.ReportWait == 0 {
		cfg.ReportWait = DefaultReportWait
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.AWS = withRetries(cfg.AWS)
	a := &Auditor{cfg: cfg, log: cfg.Logger}
	a.iam = iam.NewFromConfig(cfg.AWS)
	a.orgs = organizations.NewFromConfig(cfg.AWS)
	a.acct = account.NewFromConfig(cfg.AWS)
	a.sts = sts.NewFromConfig(cfg.AWS)
	a.ct = cloudtrail.NewFromConfig(cfg.AWS)
	return a, nil
}

// withRetries gives cfg a retryer for many accounts: more attempts, and
// no client-side retry quota (a throttled audit waits instead of giving
// up).
func withRetries(cfg aws.Config) aws.Config {
	cfg = cfg.Copy()
	cfg.Retryer = func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = maxAttempts
			o.MaxBackoff = maxBackoff
			o.RateLimiter = ratelimit.None
		})
	}
	return cfg
}

// target is one account to audit.
type target struct {
	id, name, email string
	role            string
	emailErr        error
}

// Run audits every account and returns the report. The error is set only
// when nothing could be audited (no caller identity, the organization's
// accounts could not be listed); failed checks are in the report.
func (a *Auditor) Run(ctx context.Context) (*Report, error) {
	now := a.cfg.Now().UTC()
	id, err := a.sts.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return nil, fmt.Errorf("who am I (sts:GetCallerIdentity): %s", errText(err))
	}
	caller := aws.ToString(id.Account)
	partition := "aws"
	if p, err := arn.Parse(aws.ToString(id.Arn)); err == nil {
		partition = p.Partition
	}
	rep := &Report{GeneratedAt: now}
	var org *organization
	var targets []target
	if a.cfg.Organization {
		org, err = readOrganization(ctx, a.orgs, a.iam)
		if err != nil {
			return nil, fmt.Errorf("read the organization: %s", errText(err))
		}
		rep.Organization = org.ID
		for _, acc := range org.Accounts {
			role := RoleMember
			if acc.ID == org.Management {
				role = RoleManagement
			}
			targets = append(targets, target{id: acc.ID, name: acc.Name, email: acc.Email, role: role})
		}
		if org.Skipped > 0 {
			a.log.Info("suspended or closed accounts left out of the audit", zap.Int("accounts", org.Skipped))
		}
	} else {
		targets = []target{{id: caller, role: RoleStandalone}}
		if len(a.cfg.Accounts) > 0 {
			targets = nil
			for _, acc := range a.cfg.Accounts {
				targets = append(targets, target{id: acc, role: RoleStandalone})
			}
		}
	}
	if len(a.cfg.Accounts) > 0 && a.cfg.Organization {
		var kept []target
		for _, t := range targets {
			if slices.Contains(a.cfg.Accounts, t.id) {
				kept = append(kept, t)
			}
		}
		for _, want := range a.cfg.Accounts {
			if !slices.ContainsFunc(kept, func(t target) bool { return t.id == want }) {
				a.log.Warn("account is not an active account of the organization; left out", zap.String("account", want))
			}
		}
		targets = kept
	}
	for i := range targets {
		if n, ok := a.cfg.Names[targets[i].id]; ok {
			targets[i].name = n
		}
	}

	var trails []trailState
	if len(a.cfg.Trails) > 0 {
		trails = inspectTrails(ctx, a.ct, a.cfg.Trails, now)
	}

	rep.Accounts = make([]AccountReport, len(targets))
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		done int
		sem  = make(chan struct{}, a.cfg.Concurrency)
	)
loop:
	for i, t := range targets {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			break loop // wait for the audits under way below
		}
		wg.Go(func() {
			defer func() { <-sem }()
			actx, cancel := context.WithTimeout(ctx, accountTimeout)
			ar := a.auditAccount(actx, t, caller, partition, org, now)
			cancel()
			if trails != nil {
				ar.add(evaluateTrails(trails, t.id, org != nil))
			}
			rep.Accounts[i] = ar
			mu.Lock()
			done++
			if a.cfg.Progress != nil {
				a.cfg.Progress(done, len(targets))
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rep.finish()
	return rep, nil
}

// auditAccount audits one account.
func (a *Auditor) auditAccount(ctx context.Context, t target, caller, partition string, org *organization, now time.Time) AccountReport {
	ar := AccountReport{ID: t.id, Name: t.name, Email: t.email, Role: t.role}
	var state RootState
	var contact Contact
	switch {
	case t.id == caller:
		ar.Access = AccessCaller
		state = readRootAsAccount(ctx, a.iam, a.cfg.ReportWait)
		contact = readContact(ctx, a.acct, "")
		if org == nil {
			ar.Email, t.emailErr = readOwnEmail(ctx, a.orgs, t.id)
		}
	default:
		sess, err := a.memberSession(ctx, t.id, partition, org)
		if err != nil {
			ar.Access = AccessNone
			state = RootState{MFAErr: err, KeysErr: err, UsageErr: err, PasswordErr: err, CertsErr: err}
		} else {
			ar.Access = sess.access
			if sess.access == AccessAssumeRoot {
				state = readRootAsRoot(ctx, iam.NewFromConfig(sess.cfg))
			} else {
				state = readRootAsAccount(ctx, iam.NewFromConfig(sess.cfg), a.cfg.ReportWait)
			}
		}
		switch {
		case org != nil:
			// The management account (or delegated administrator) reads
			// members' contacts with AccountId.
			contact = readContact(ctx, a.acct, t.id)
		case sess != nil && sess.access == AccessRole:
			contact = readContact(ctx, account.NewFromConfig(sess.cfg), "")
		default:
			contact = Contact{Err: err}
		}
		if org == nil {
			// The caller reads it when it manages the account's
			// organization; else the member role may (a delegated
			// administrator, or the account's own organization).
			ar.Email, t.emailErr = readOwnEmail(ctx, a.orgs, t.id)
			if t.emailErr != nil && sess != nil && sess.access == AccessRole {
				ar.Email, t.emailErr = readOwnEmail(ctx, organizations.NewFromConfig(sess.cfg), t.id)
			}
		}
	}
	ar.add(EvaluateMFA(state))
	ar.add(EvaluateAccessKeys(state, now))
	ar.add(EvaluateRecentUse(state, now, a.cfg.RecentWindow))
	if t.emailErr != nil {
		ar.add(unknown(CheckEmail, t.emailErr))
	} else {
		ar.add(EvaluateEmail(ar.Email, a.cfg.CompanyDomains))
	}
	ar.add(EvaluateContact(contact))
	if org != nil {
		if t.role == RoleManagement {
			ar.add(EvaluateOrgFeatures(org.Features))
		} else {
			ar.add(EvaluateMemberCredentials(state))
		}
	}
	return ar
}

// memberSession opens a session in member id: sts:AssumeRoot unless the
// organization is known to have root sessions off, then --member-role.
func (a *Auditor) memberSession(ctx context.Context, id, partition string, org *organization) (*memberSession, error) {
	var errs []error
	if org != nil && (org.Features.Err != nil || org.Features.RootSessions) {
		s, err := assumeRoot(ctx, a.sts, a.cfg.AWS, id)
		if err == nil {
			return s, nil
		}
		errs = append(errs, err)
	}
	if a.cfg.MemberRole != "" {
		s, err := assumeRole(ctx, a.sts, a.cfg.AWS, partition, id, a.cfg.MemberRole)
		if err == nil {
			return s, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		if org != nil {
			return nil, errors.New("centralized root sessions are off and no --member-role is given: no way into the account")
		}
		return nil, fmt.Errorf("no way into account %s: give --member-role or audit with --org", id)
	}
	// The first error names the permission of the preferred way in.
	return nil, errs[0]
}
