package posture

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
)

// orgAccount is an account of the organization as ListAccounts gave it.
type orgAccount struct {
	ID, Name, Email string
}

// organization is the organization being audited.
type organization struct {
	ID         string
	Management string
	Accounts   []orgAccount // active accounts, sorted by id
	Skipped    int          // suspended or closed accounts left out
	Features   OrgFeatures
}

// readOrganization reads the organization, every active account (all
// pages of ListAccounts) and its centralized root access features.
func readOrganization(ctx context.Context, orgs *organizations.Client, iamc *iam.Client) (*organization, error) {
	d, err := orgs.DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{})
	if err != nil {
		return nil, wrapCall("organizations:DescribeOrganization", err)
	}
	o := &organization{ID: aws.ToString(d.Organization.Id), Management: aws.ToString(d.Organization.MasterAccountId)}
	p := organizations.NewListAccountsPaginator(orgs, &organizations.ListAccountsInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, wrapCall("organizations:ListAccounts", err)
		}
		for _, a := range page.Accounts {
			if !accountActive(a) {
				o.Skipped++
				continue
			}
			o.Accounts = append(o.Accounts, orgAccount{ID: aws.ToString(a.Id), Name: aws.ToString(a.Name), Email: aws.ToString(a.Email)})
		}
	}
	slices.SortFunc(o.Accounts, func(a, b orgAccount) int { return strings.Compare(a.ID, b.ID) })
	o.Features = readFeatures(ctx, iamc)
	return o, nil
}

// accountActive reports whether a is an active account (its State, or
// the older Status, says ACTIVE).
func accountActive(a orgtypes.Account) bool {
	if a.State != "" {
		return a.State == orgtypes.AccountStateActive
	}
	return a.Status == "" || a.Status == orgtypes.AccountStatusActive
}

// readFeatures reads the organization's centralized root access features.
func readFeatures(ctx context.Context, iamc *iam.Client) OrgFeatures {
	out, err := iamc.ListOrganizationsFeatures(ctx, &iam.ListOrganizationsFeaturesInput{})
	if err != nil {
		return OrgFeatures{Err: wrapCall("iam:ListOrganizationsFeatures", err)}
	}
	return OrgFeatures{
		CredentialsManagement: slices.Contains(out.EnabledFeatures, iamtypes.FeatureTypeRootCredentialsManagement),
		RootSessions:          slices.Contains(out.EnabledFeatures, iamtypes.FeatureTypeRootSessions),
	}
}

// readOwnEmail reads the root e-mail of the caller's account through
// Organizations DescribeAccount (the only API that tells it).
func readOwnEmail(ctx context.Context, orgs *organizations.Client, id string) (string, error) {
	out, err := orgs.DescribeAccount(ctx, &organizations.DescribeAccountInput{AccountId: aws.String(id)})
	if err != nil {
		switch errorCode(err) {
		case "AWSOrganizationsNotInUseException", "AccountNotFoundException":
			return "", fmt.Errorf("the root e-mail is readable only through Organizations DescribeAccount, and account %s is in no organization it can read (%s)", id, errorCode(err))
		}
		return "", wrapCall("organizations:DescribeAccount", err)
	}
	return aws.ToString(out.Account.Email), nil
}
