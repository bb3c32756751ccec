package convert

import (
	"regexp"
	"strings"
)

// secretRule finds one kind of credential. Findings name the kind, the cell
// and the line, never the value.
type secretRule struct {
	what string
	re   *regexp.Regexp
	// placeholderGroup, when > 0, is the submatch holding the value; values
	// that look like placeholders are not findings.
	placeholderGroup int
	// needles: the regexp only runs on lines holding one of them (matched
	// case-insensitively when fold is set), which keeps the scan fast.
	needles []string
	fold    bool
}

// secretRules is nbpipe's own list, modelled on gitleaks' default rules
// (https://github.com/gitleaks/gitleaks, config/gitleaks.toml; the rule ids
// are named in the comments). gitleaks itself works as a Go library, but its
// 222 rules scanned the corpus' cells at about 4 MB/s, slower than all of
// conversion (~200 MB/s of notebook JSON), and its generic rules depend on
// entropy thresholds; these rules run only on lines holding a needle.
var secretRules = []secretRule{
	{what: "AWS access key id", re: regexp.MustCompile(`\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[0-9A-Z]{16}\b`),
		needles: []string{"AKIA", "ASIA", "AGPA", "AIDA", "AROA", "ANPA", "ANVA", "AIPA"}},
	{what: "AWS secret access key", re: regexp.MustCompile(`(?i)aws_?secret_?(?:access_?)?key\W{0,4}\s*[:=,]\s*\(?\s*["']([A-Za-z0-9/+=]{40})["']`), placeholderGroup: 1,
		needles: []string{"secret"}, fold: true},
	{what: "private key", re: regexp.MustCompile(`-----BEGIN (?:RSA |DSA |EC |OPENSSH |PGP |ENCRYPTED )?PRIVATE KEY(?: BLOCK)?-----`), needles: []string{"PRIVATE KEY"}},
	{what: "JSON Web Token", re: regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}`), needles: []string{"eyJ"}},
	{what: "GitHub token", re: regexp.MustCompile(`\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}\b|\bgithub_pat_[A-Za-z0-9_]{50,}`), needles: []string{"ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"}},
	{what: "Gitea token", re: regexp.MustCompile(`(?i)(?:gitea|token)\w*["']?\s*[:=,]\s*["']([0-9a-f]{40})["']`), placeholderGroup: 1,
		needles: []string{"token", "gitea"}, fold: true},
	{what: "password literal", re: regexp.MustCompile(`(?i)["']?\w*(?:password|passwd|pwd|secret|api_?key|secret_?key|access_?token|auth_?token)["']?\s*(?:[:=]|,)\s*[rbu]?["']([^"'\s]{4,})["']`), placeholderGroup: 1,
		needles: []string{"pass", "pwd", "secret", "key", "token"}, fold: true},
	{what: "password on a command line", re: regexp.MustCompile(`(?i)--?(?:password|passwd|pwd)[= ]["']?([^\s"'$]{4,})`), placeholderGroup: 1,
		needles: []string{"-pass", "-pwd"}, fold: true},
	// gitleaks: slack-bot-token, slack-user-token, slack-app-token,
	// slack-legacy-*, slack-config-*-token.
	{what: "Slack token", re: regexp.MustCompile(`\bxox[abposre]-(?:\d+-)?[0-9A-Za-z-]{10,}|\bxapp-\d-[A-Z0-9]+-\d+-[a-z0-9]+`),
		needles: []string{"xox", "xapp-"}},
	// gitleaks: slack-webhook-url.
	{what: "Slack webhook URL", re: regexp.MustCompile(`hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/]{40,}`),
		needles: []string{"hooks.slack.com"}},
	// gitleaks: gitlab-pat, gitlab-ptt, gitlab-deploy-token, gitlab-rrt,
	// gitlab-cicd-job-token, gitlab-feed-token, gitlab-runner-authentication-token, ...
	{what: "GitLab token", re: regexp.MustCompile(`\bgl(?:pat|ptt|dt|rt|cbt|ft|imt|oas|soat|agent)-[0-9A-Za-z_-]{20,}|\bglrt-[0-9A-Za-z_-]{20,}|\bGR1348941[0-9A-Za-z_-]{20,}`),
		needles: []string{"glpat-", "glptt-", "gldt-", "glrt-", "glcbt-", "glft-", "glimt-", "gloas-", "glsoat-", "glagent-", "GR1348941"}},
	// gitleaks: gcp-api-key.
	{what: "Google API key", re: regexp.MustCompile(`\bAIza[0-9A-Za-z_-]{35}`), needles: []string{"AIza"}},
	// gitleaks: azure-ad-client-secret's sibling for storage: the account
	// key (and shared access key) of a connection string.
	{what: "Azure storage key", re: regexp.MustCompile(`(?i)(?:AccountKey|SharedAccessKey)\s*=\s*([A-Za-z0-9+/]{20,}={0,2})`), placeholderGroup: 1,
		needles: []string{"accountkey", "sharedaccesskey"}, fold: true},
	// Spark and Hadoop settings that hold credentials, in code
	// (.config("k", "v"), conf.set("k", "v")), in %%configure JSON or in YAML:
	// fs.s3a.secret.key/access.key, fs.azure.account.key.*, *.password, ...
	{what: "credential in a Spark setting", re: regexp.MustCompile(`(?i)["']?\b((?:spark\.|fs\.|hadoop\.)[\w.-]*(?:secret\.key|access\.key|secret|password|account\.key[\w.-]*|private\.key|credential[\w.-]*|token))["']?\s*[,:=]\s*[rbu]?["']([^"']{4,})["']`), placeholderGroup: 2,
		needles: []string{"secret", "access.key", "password", "account.key", "private.key", "credential", "token"}, fold: true},
	{what: "credentials in a URL", re: regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@"']+:([^/\s@"']{4,})@`), placeholderGroup: 1,
		needles: []string{"@"}},
}

var placeholderPattern = regexp.MustCompile(`(?i)^(?:<.*>|\{.*\}|\$.*|\*+|x+|\.+|changeme|change_me|password|passwd|secret|example\w*|your[_-]?\w*|my[_-]?\w*|dummy\w*|test\w*|placeholder\w*|none|null|redacted|todo|tbd|xxx\w*|\w*_here)$`)

// redactSecrets replaces every credential in s, for report text: reports go
// to logs and commit statuses and must never carry a secret.
func redactSecrets(s string) string {
	for _, rule := range secretRules {
		hay := s
		if rule.fold {
			hay = strings.ToLower(s)
		}
		if containsAny(hay, rule.needles) {
			s = rule.re.ReplaceAllString(s, "[redacted]")
		}
	}
	return s
}

type secretHit struct {
	line int // 1-based within the scanned text
	what string
}

// scanSecrets reports credentials in text, one finding per kind and line.
func scanSecrets(text string) []secretHit {
	// Most text holds no needle at all: find the rules that can match once,
	// in one pass over the text, before looking at lines.
	present := presentNeedles(text)
	if present == 0 {
		return nil
	}
	var active []*secretRule
	for i := range secretRules {
		if present&needleMasks[i] != 0 {
			active = append(active, &secretRules[i])
		}
	}
	if len(active) == 0 {
		return nil
	}
	var hits []secretHit
	line := 1
	for len(text) > 0 {
		l := text
		if i := strings.IndexByte(text, '\n'); i >= 0 {
			l, text = text[:i], text[i+1:]
		} else {
			text = ""
		}
		if len(l) >= 8 {
			lower := ""
			for _, rule := range active {
				hay := l
				if rule.fold {
					if lower == "" {
						lower = asciiLower(l)
					}
					hay = lower
				}
				if !containsAny(hay, rule.needles) {
					continue
				}
				for _, m := range rule.re.FindAllStringSubmatch(l, -1) {
					if rule.placeholderGroup > 0 && placeholderPattern.MatchString(m[rule.placeholderGroup]) {
						continue
					}
					hits = append(hits, secretHit{line: line, what: rule.what})
					break
				}
			}
		}
		line++
	}
	return hits
}

func containsAny(s string, needles []string) bool {
	for _, n := range needles {
		if strings.Contains(s, n) {
			return true
		}
	}
	return false
}

// asciiLower lower-cases ASCII letters only (needles are ASCII), keeping
// byte offsets; it does not allocate when there is nothing to change.
func asciiLower(s string) string {
	i := 0
	for i < len(s) && !(s[i] >= 'A' && s[i] <= 'Z') {
		i++
	}
	if i == len(s) {
		return s
	}
	b := []byte(s)
	for ; i < len(b); i++ {
		if b[i] >= 'A' && b[i] <= 'Z' {
			b[i] += 'a' - 'A'
		}
	}
	return string(b)
}

type needle struct {
	s    string
	fold bool
}

// uniqueNeedles are the rules' needles without repeats; bit k of
// needleMasks[i] is set when rule i has uniqueNeedles[k].
var uniqueNeedles, needleMasks = func() ([]needle, []uint64) {
	var uniq []needle
	masks := make([]uint64, len(secretRules))
	for i, r := range secretRules {
		for _, n := range r.needles {
			k := -1
			for j, u := range uniq {
				if u.s == n && u.fold == r.fold {
					k = j
				}
			}
			if k < 0 {
				k = len(uniq)
				uniq = append(uniq, needle{s: n, fold: r.fold})
			}
			masks[i] |= 1 << k
		}
	}
	if len(uniq) > 64 {
		panic("secrets: more than 64 needles")
	}
	return uniq, masks
}()

// byBigram indexes the needles of two bytes or more by their first two bytes,
// lower-cased: byBigram[b0<<8|b1] is 1 + an index into bigramNeedles. A
// needle of one byte goes in oneByte.
var byBigram, bigramNeedles, oneByte = func() (*[1 << 16]uint8, [][]int, []int) {
	tab := new([1 << 16]uint8)
	var groups [][]int
	var single []int
	for k, n := range uniqueNeedles {
		if len(n.s) < 2 {
			single = append(single, k)
			continue
		}
		key := uint16(lowerByte[n.s[0]])<<8 | uint16(lowerByte[n.s[1]])
		if tab[key] == 0 {
			groups = append(groups, nil)
			tab[key] = uint8(len(groups))
		}
		groups[tab[key]-1] = append(groups[tab[key]-1], k)
	}
	return tab, groups, single
}()

var lowerByte = func() (t [256]byte) {
	for i := range t {
		t[i] = byte(i)
		if i >= 'A' && i <= 'Z' {
			t[i] += 'a' - 'A'
		}
	}
	return t
}()

// presentNeedles reports which needles text holds (bit k for
// uniqueNeedles[k]), in one pass: the 30-odd strings.Contains calls it
// replaces were a tenth of conversion time.
func presentNeedles(text string) uint64 {
	var found uint64
	for _, k := range oneByte {
		if strings.Contains(text, uniqueNeedles[k].s) {
			found |= 1 << k
		}
	}
	if len(text) < 2 {
		return found
	}
	key := uint16(lowerByte[text[0]])
	for i := 0; i+1 < len(text); i++ {
		key = key<<8 | uint16(lowerByte[text[i+1]])
		g := byBigram[key]
		if g == 0 {
			continue
		}
		for _, k := range bigramNeedles[g-1] {
			n := uniqueNeedles[k]
			if found&(1<<k) != 0 || len(text)-i < len(n.s) {
				continue
			}
			if n.fold && asciiEqualFold(text[i:i+len(n.s)], n.s) || !n.fold && text[i:i+len(n.s)] == n.s {
				found |= 1 << k
			}
		}
	}
	return found
}

// asciiEqualFold compares s with a lower-case ASCII needle.
func asciiEqualFold(s, lower string) bool {
	for i := 0; i < len(lower); i++ {
		if lowerByte[s[i]] != lower[i] {
			return false
		}
	}
	return true
}
