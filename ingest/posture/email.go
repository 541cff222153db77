package posture

import (
	"fmt"
	"regexp"
	"strings"
)

// freeMail are the public mailbox providers a root e-mail must not be at:
// whoever controls that one mailbox controls the account's password reset.
var freeMail = map[string]bool{
	"gmail.com": true, "googlemail.com": true, "outlook.com": true, "hotmail.com": true, "live.com": true,
	"msn.com": true, "yahoo.com": true, "ymail.com": true, "icloud.com": true, "me.com": true, "mac.com": true,
	"aol.com": true, "proton.me": true, "protonmail.com": true, "pm.me": true, "gmx.com": true, "gmx.net": true,
	"gmx.de": true, "web.de": true, "mail.com": true, "yandex.com": true, "yandex.ru": true, "zoho.com": true,
	"fastmail.com": true, "tutanota.com": true, "qq.com": true, "163.com": true, "126.com": true,
	"mail.ru": true, "hey.com": true, "yahoo.co.uk": true, "yahoo.fr": true, "hotmail.co.uk": true,
	"outlook.de": true, "t-online.de": true, "free.fr": true, "orange.fr": true, "laposte.net": true,
}

// personalRE matches a local part shaped like one person's name
// (first.last, first_last, f.last), as opposed to a list such as
// aws-root or cloud-admins.
var personalRE = regexp.MustCompile(`^[a-z]+[._][a-z]+$`)

// listWords are parts of a local part that say it is a list or a role,
// not a person, even when it looks like first.last (aws.root, sec.team).
var listWords = []string{"aws", "root", "admin", "security", "sec", "cloud", "ops", "team", "account",
	"billing", "infra", "platform", "devops", "it", "prod", "dev", "test", "stage", "sandbox", "alerts",
	"noreply", "no-reply", "owner", "owners", "master", "management", "org", "finance", "soc", "iam"}

// EvaluateEmail checks an account's root e-mail: fail when it is at a
// free-mail provider or (with company domains given) outside them, warn
// when it looks like one person's mailbox (first.last) rather than a
// distribution list, pass otherwise. A domain matches a company domain or
// any of its subdomains.
func EvaluateEmail(email string, companyDomains []string) Result {
	r := Result{Check: CheckEmail}
	email = strings.TrimSpace(email)
	local, domain, ok := strings.Cut(email, "@")
	if !ok || local == "" || domain == "" || strings.Contains(domain, "@") {
		r.Status, r.Detail = StatusFail, fmt.Sprintf("%q is not an e-mail address", email)
		return r
	}
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	local = strings.ToLower(local)
	if i := strings.IndexByte(local, '+'); i > 0 {
		local = local[:i] // sub-addressing: aws+prod@ is the aws@ mailbox
	}
	if freeMail[domain] {
		r.Status, r.Detail = StatusFail, fmt.Sprintf("%s is at free-mail provider %s: use a company distribution list", email, domain)
		return r
	}
	if len(companyDomains) > 0 && !inDomains(domain, companyDomains) {
		r.Status, r.Detail = StatusFail, fmt.Sprintf("%s is not in a company domain (%s)", email, strings.Join(companyDomains, ", "))
		return r
	}
	if looksPersonal(local) {
		r.Status, r.Detail = StatusWarn, fmt.Sprintf("%s looks like one person's mailbox: use a distribution list several people read", email)
		return r
	}
	r.Status, r.Detail = StatusPass, email
	if len(companyDomains) == 0 {
		r.Detail += " (no company domains given: only free-mail providers are refused)"
	}
	return r
}

func inDomains(domain string, companyDomains []string) bool {
	for _, c := range companyDomains {
		c = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(c), "@"))
		if c != "" && (domain == c || strings.HasSuffix(domain, "."+c)) {
			return true
		}
	}
	return false
}

func looksPersonal(local string) bool {
	if !personalRE.MatchString(local) {
		return false
	}
	for _, part := range strings.FieldsFunc(local, func(r rune) bool { return r == '.' || r == '_' }) {
		for _, w := range listWords {
			if part == w || strings.HasPrefix(part, w+"s") && len(part) == len(w)+1 {
				return false
			}
		}
	}
	return true
}
