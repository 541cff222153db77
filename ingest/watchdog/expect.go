package watchdog

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Pair is one (account, region) whose CloudTrail logs are watched. Region
// "*" stands for the whole account (see Expect).
type Pair struct {
	Account, Region string
}

// String returns "ACCOUNT:REGION".
func (p Pair) String() string { return p.Account + ":" + p.Region }

// AnyRegion is the region of an account-wide expectation.
const AnyRegion = "*"

// Expect is the explicit list of pairs that must never be quiet
// (ROOTWATCH_EXPECT). The zero value expects nothing.
type Expect struct {
	// regions per account; nil means every region (ACCOUNT:*).
	accounts map[string]map[string]bool
}

var (
	accountRE = regexp.MustCompile(`^[0-9]{12}$`)
	regionRE  = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$`)
)

// maxExpectEntries bounds the pairs one ROOTWATCH_EXPECT may name.
const maxExpectEntries = 10000

// ParseExpect parses ROOTWATCH_EXPECT: entries separated by ";", each
// "ACCOUNT:REGION[,REGION...]" or "ACCOUNT:*" (every region the account
// sends logs from, and at least one), for example
// "111122223333:us-east-1,us-west-2;444455556666:*". Spaces around parts
// are ignored; an empty string expects nothing. Accounts are 12-digit ids,
// regions AWS region names (us-east-1, us-gov-west-1).
func ParseExpect(s string) (Expect, error) {
	var e Expect
	n := 0
	for entry := range strings.SplitSeq(s, ";") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		acct, regions, ok := strings.Cut(entry, ":")
		acct = strings.TrimSpace(acct)
		if !ok {
			return Expect{}, fmt.Errorf("%q: want ACCOUNT:REGION[,REGION...] or ACCOUNT:*", entry)
		}
		if !accountRE.MatchString(acct) {
			return Expect{}, fmt.Errorf("%q: %q is not a 12-digit account id", entry, acct)
		}
		if e.accounts == nil {
			e.accounts = make(map[string]map[string]bool)
		}
		set, seen := e.accounts[acct]
		if seen && set == nil {
			continue // already every region
		}
		empty := true
		for r := range strings.SplitSeq(regions, ",") {
			r = strings.TrimSpace(r)
			if r == "" {
				continue
			}
			empty = false
			if r == AnyRegion {
				set = nil
				seen = true
				break
			}
			if !regionRE.MatchString(r) {
				return Expect{}, fmt.Errorf("%q: %q is not a region name (like us-east-1) or *", entry, r)
			}
			if n++; n > maxExpectEntries {
				return Expect{}, fmt.Errorf("more than %d pairs", maxExpectEntries)
			}
			if set == nil && !seen {
				set = make(map[string]bool)
				seen = true
			}
			if set != nil {
				set[r] = true
			}
		}
		if empty {
			return Expect{}, fmt.Errorf("%q: no region (use ACCOUNT:* for every region)", entry)
		}
		e.accounts[acct] = set
	}
	return e, nil
}

// Wants reports whether the pair must never be quiet: it is listed, or
// its account is listed with "*". Wants(account, "*") is true for an
// account listed with "*".
func (e Expect) Wants(account, region string) bool {
	set, ok := e.accounts[account]
	if !ok {
		return false
	}
	return set == nil || set[region]
}

// Pairs returns the listed pairs, sorted; an account listed with "*" gives
// one pair with Region AnyRegion.
func (e Expect) Pairs() []Pair {
	var out []Pair
	for a, set := range e.accounts {
		if set == nil {
			out = append(out, Pair{a, AnyRegion})
			continue
		}
		for r := range set {
			out = append(out, Pair{a, r})
		}
	}
	slices.SortFunc(out, func(x, y Pair) int { return strings.Compare(x.String(), y.String()) })
	return out
}

// String returns the canonical form of e, which ParseExpect reads back.
func (e Expect) String() string {
	var parts []string
	for _, p := range e.Pairs() {
		if n := len(parts); n > 0 && strings.HasPrefix(parts[n-1], p.Account+":") {
			parts[n-1] += "," + p.Region
			continue
		}
		parts = append(parts, p.String())
	}
	return strings.Join(parts, ";")
}

// Empty reports whether e expects nothing.
func (e Expect) Empty() bool { return len(e.accounts) == 0 }
