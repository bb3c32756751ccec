// Package redact is the one place credentials are stripped from URLs before
// they are logged, reported, put in a commit status or returned in an error.
package redact

import (
	"net/url"
	"regexp"
	"strings"
)

// URL returns u with any user information replaced by "***": a clone URL
// such as https://user:token@host/repo.git may carry a token. Text that does
// not parse as a URL is scrubbed as free text.
func URL(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.Scheme == "" {
		return Text(u)
	}
	hadUser := p.User != nil
	p.User = nil
	// Query parameters named like secrets are dropped too.
	if q := p.Query(); len(q) > 0 {
		changed := false
		for k := range q {
			if secretParam(k) {
				q.Set(k, "***")
				changed = true
			}
		}
		if changed {
			p.RawQuery = q.Encode()
		}
	}
	out := p.String()
	if hadUser {
		out = strings.Replace(out, "://", "://***@", 1)
	}
	return out
}

// userinfo matches the credentials part of any URL inside free text (error
// messages of git and HTTP libraries quote the URL they used).
// It runs to the last @ before the host ends, so a password holding an @
// goes whole.
var userinfo = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://)[^/?#\s]*@`)

// Text scrubs the credentials of every URL that appears in s.
func Text(s string) string {
	if !strings.Contains(s, "@") {
		return s
	}
	return userinfo.ReplaceAllString(s, "${1}***@")
}

func secretParam(k string) bool {
	k = strings.ToLower(k)
	for _, w := range []string{"token", "secret", "password", "key", "sig"} {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}
