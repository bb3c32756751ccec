package convert

import (
	"encoding/json"
	"strings"
	"testing"
)

// Every credential-shaped value below is assembled at run time from obviously
// fake parts, so no real-looking secret sits in the repository as a literal.
var (
	secFakeAWSKeyID   = "AKIA" + strings.Repeat("Q", 16)
	secFakeAWSSecret  = strings.Repeat("Ab1/", 10) // 40 characters of the secret key alphabet
	secFakePrivateKey = "-----BEGIN " + "RSA " + "PRIVATE KEY-----"
	secFakeJWT        = "eyJ" + strings.Repeat("a", 10) + ".eyJ" + strings.Repeat("b", 10) + "." + strings.Repeat("c", 20)
	secFakeGitHub     = "ghp" + "_" + strings.Repeat("F", 36)
	secFakeGitHubPAT  = "github" + "_pat_" + strings.Repeat("F1", 30)
	secFakeGitea      = strings.Repeat("0f", 20) // 40 lower-case hex digits
	secFakePassword   = "fake" + strings.Repeat("Z", 8)
)

func TestScanSecretsKinds(t *testing.T) {
	tests := []struct {
		name string
		line string
		what string
	}{
		{"AWS access key id", `key_id = "` + secFakeAWSKeyID + `"`, "AWS access key id"},
		{"AWS temporary key id", `k = "` + "ASIA" + strings.Repeat("7", 16) + `"`, "AWS access key id"},
		{"AWS key id in a URL", "s3://" + secFakeAWSKeyID + ":x@bucket/path", "AWS access key id"},
		{"AWS secret access key", `aws_secret_access_key = "` + secFakeAWSSecret + `"`, "AWS secret access key"},
		{"AWS secret as keyword argument", `boto3.client("s3", AWS_SECRET_ACCESS_KEY="` + secFakeAWSSecret + `")`, "AWS secret access key"},
		{"AWS secret in a dict", `{"aws_secret_key": '` + secFakeAWSSecret + `'}`, "AWS secret access key"},
		{"private key", `pem = """` + secFakePrivateKey, "private key"},
		{"OpenSSH private key", "-----BEGIN " + "OPENSSH " + "PRIVATE KEY-----", "private key"},
		{"plain private key", "-----BEGIN " + "PRIVATE KEY-----", "private key"},
		{"JSON web token", `headers = {"Authorization": "Bearer ` + secFakeJWT + `"}`, "JSON Web Token"},
		{"GitHub token", `gh = "` + secFakeGitHub + `"`, "GitHub token"},
		{"GitHub fine-grained token", `gh = "` + secFakeGitHubPAT + `"`, "GitHub token"},
		{"Gitea token", `GITEA_TOKEN = "` + secFakeGitea + `"`, "Gitea token"},
		{"token assignment with hex value", `api_token: '` + secFakeGitea + `'`, "Gitea token"},
		{"password assignment", `password = "` + secFakePassword + `"`, "password literal"},
		{"password keyword argument", `conn = connect(user="u", password="` + secFakePassword + `")`, "password literal"},
		{"password dict entry", `opts = {"password": "` + secFakePassword + `"}`, "password literal"},
		{"option call", `.option("password", "` + secFakePassword + `")`, "password literal"},
		{"pwd upper case", `PWD = '` + secFakePassword + `'`, "password literal"},
		{"api key", `api_key = "` + secFakePassword + `"`, "password literal"},
		{"apikey", `apikey="` + secFakePassword + `"`, "password literal"},
		{"secret key", `SECRET_KEY = r"` + secFakePassword + `"`, "password literal"},
		{"access token", `access_token = u'` + secFakePassword + `'`, "password literal"},
		{"auth token", `auth_token: "` + secFakePassword + `"`, "password literal"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hits := scanSecrets(tc.line)
			found := false
			for _, h := range hits {
				if h.line != 1 {
					t.Errorf("hit on line %d, want 1", h.line)
				}
				if h.what == tc.what {
					found = true
				}
			}
			if !found {
				t.Errorf("scanSecrets(%q) = %+v, want a %q hit", tc.line, hits, tc.what)
			}
		})
	}
}

// Credentials are usually named after what they unlock: db_password,
// OPENAI_API_KEY, jdbc_password. The password rule must find those too.
func TestScanSecretsPrefixedNames(t *testing.T) {
	for _, line := range []string{
		`db_password = "` + secFakePassword + `"`,
		`OPENAI_API_KEY = "` + secFakePassword + `"`,
		`jdbc_password="` + secFakePassword + `"`,
	} {
		t.Run(line[:strings.IndexAny(line, "=,")], func(t *testing.T) {
			if hits := scanSecrets(line); len(hits) == 0 {
				t.Errorf("scanSecrets(%q) found nothing", line)
			}
		})
	}
}

func TestScanSecretsNotFindings(t *testing.T) {
	for _, line := range []string{
		`password = "<password>"`,
		`password = "changeme"`,
		`password = "change_me"`,
		`password = "${PW}"`,
		`password = "$DB_PASSWORD"`,
		`password = "{password}"`,
		`password = "your_password"`,
		`password = "YourPassword"`,
		`password = "********"`,
		`password = "xxxxxxxx"`,
		`password = "password"`,
		`password = "example123"`,
		`password = "dummy_value"`,
		`password = "placeholder"`,
		`password = "REDACTED"`,
		`password = "TODO"`,
		`password = "put_it_here"`,
		`password = "abc"`, // too short to be a password literal
		`password = os.environ["DB_PASSWORD"]`,
		`password = getpass.getpass()`,
		`password = f"{user_password}"`,
		`password = None`,
		`aws_secret_access_key = "` + strings.Repeat("x", 40) + `"`,
		`aws_secret_access_key = os.environ["AWS_SECRET_ACCESS_KEY"]`,
		`key_id = "AKIA1234"`,
		`key_id = "` + secFakeAWSKeyID[:19] + `"`, // one character short
		`s = "` + "ghp" + "_" + strings.Repeat("F", 20) + `"`,
		`sha = "` + secFakeGitea + `"`, // a bare commit hash is not a token
		`text = "-----BEGIN PUBLIC KEY-----"`,
		`x = 1`,
		`short`,
	} {
		t.Run(line, func(t *testing.T) {
			if hits := scanSecrets(line); len(hits) != 0 {
				t.Errorf("scanSecrets(%q) = %+v, want none", line, hits)
			}
		})
	}
}

// Names that merely mention a credential (where it lives, what it is called)
// are not credentials: refusing them punishes the notebooks that do the right
// thing and fetch secrets from a secret store.
func TestScanSecretsNamesAboutSecrets(t *testing.T) {
	for _, line := range []string{
		`secret_name = "prod/db/creds"`,
		`secret_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db"`,
		`resp = client.get_secret_value(SecretId="prod/db/creds")`,
		`secret_scope = "kv-prod"`,
		`api_key_path = "/dbfs/keys/api.txt"`,
		`password_file = "/run/secrets/db"`,
		`password_env_var = "DB_PASSWORD"`,
		`auth_token_url = "https://login.example.invalid/oauth2/token"`,
	} {
		t.Run(line, func(t *testing.T) {
			if hits := scanSecrets(line); len(hits) != 0 {
				t.Errorf("scanSecrets(%q) = %+v, want none", line, hits)
			}
		})
	}
}

func TestScanSecretsLines(t *testing.T) {
	text := strings.Join([]string{
		"import os",                            // 1
		`password = "` + secFakePassword + `"`, // 2
		"",                                     // 3
		"# a comment",                          // 4
		`k = "` + secFakeAWSKeyID + `"; k2 = "` + "AKIA" + strings.Repeat("R", 16) + `"`, // 5: two of one kind
		`t = "` + secFakeGitHub + `"; password = "` + secFakePassword + `"`,              // 6: two kinds
		`x = 1`, // 7
	}, "\n")
	got := scanSecrets(text)
	want := []secretHit{
		{line: 2, what: "password literal"},
		{line: 5, what: "AWS access key id"},
		{line: 6, what: "GitHub token"},
		{line: 6, what: "password literal"},
	}
	if len(got) != len(want) {
		t.Fatalf("hits = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("hit %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	t.Run("CRLF text", func(t *testing.T) {
		got := scanSecrets("a = 1\r\nb = 2\r\npassword = '" + secFakePassword + "'\r\n")
		if len(got) != 1 || got[0].line != 3 {
			t.Errorf("hits = %+v, want one on line 3", got)
		}
	})
}

// secNotebook builds an nbformat 4 notebook; metadata may be nil.
func secNotebook(t *testing.T, metadata map[string]any, cells ...map[string]any) []byte {
	t.Helper()
	if metadata == nil {
		metadata = map[string]any{}
	}
	for _, c := range cells {
		if _, ok := c["metadata"]; !ok {
			c["metadata"] = map[string]any{}
		}
		if c["cell_type"] == "code" {
			c["outputs"] = []any{}
			c["execution_count"] = nil
		}
	}
	b, err := json.Marshal(map[string]any{"nbformat": 4, "nbformat_minor": 5, "metadata": metadata, "cells": cells})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func secCode(src string) map[string]any { return map[string]any{"cell_type": "code", "source": src} }
func secMarkdown(src string) map[string]any {
	return map[string]any{"cell_type": "markdown", "source": src}
}

func secFindings(res *Result, code string) []Finding {
	var out []Finding
	for _, f := range res.Findings {
		if f.Code == code {
			out = append(out, f)
		}
	}
	return out
}

func TestConvertReportsSecrets(t *testing.T) {
	tests := []struct {
		name     string
		meta     map[string]any
		cells    []map[string]any
		wantSev  Severity
		wantCell int
		wantLine int
		wantMsg  string
	}{
		{"key in a code cell", nil, []map[string]any{secCode("x = 1\nkey_id = '" + secFakeAWSKeyID + "'\ny = 2")},
			SevError, 1, 2, "possible AWS access key id"},
		{"cell numbers count markdown cells", nil, []map[string]any{secMarkdown("# Title"), secCode("x = 1"), secCode("password = '" + secFakePassword + "'")},
			SevError, 3, 1, "possible password literal"},
		{"line numbers count the wrapper magic", nil, []map[string]any{secCode("%%time\nx = 1\ngh = '" + secFakeGitHub + "'")},
			SevError, 1, 3, "possible GitHub token"},
		{"line numbers count leading blank lines", nil, []map[string]any{secCode("\n\n%%capture\nt = '" + secFakeJWT + "'")},
			SevError, 1, 4, "possible JSON Web Token"},
		{"merged fragments keep their own cells", nil, []map[string]any{secCode("x = f(1,"), secCode("  2)\npassword = '" + secFakePassword + "'")},
			SevError, 2, 2, "possible password literal"},
		{"allow_secrets makes it a warning", map[string]any{"nbpipe": map[string]any{"allow_secrets": true}}, []map[string]any{secCode("pem = '''" + secFakePrivateKey + "\n'''")},
			SevWarning, 1, 1, "allowed by allow_secrets"},
		{"markdown that becomes doc_md", nil, []map[string]any{secMarkdown("Token: " + secFakeGitHub), secCode("x = 1")},
			SevError, 0, 0, "GitHub token in the markdown that becomes doc_md"},
		{"params in the configuration", map[string]any{"nbpipe": map[string]any{"params": map[string]any{"token": secFakeGitHub}}}, []map[string]any{secCode("x = 1")},
			SevError, 0, 0, "GitHub token in metadata.nbpipe"},
		{"parameters cell", nil, []map[string]any{{"cell_type": "code", "source": "aws_secret_access_key = '" + secFakeAWSSecret + "'", "metadata": map[string]any{"tags": []string{"parameters"}}}},
			SevError, 1, 1, "possible AWS secret access key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := Convert("secrets.ipynb", secNotebook(t, tc.meta, tc.cells...), Options{})
			fs := secFindings(res, CodeSecret)
			if len(fs) == 0 {
				t.Fatalf("no secret finding; findings: %v", res.Findings)
			}
			f := fs[0]
			if f.Severity != tc.wantSev || f.Cell != tc.wantCell || f.Line != tc.wantLine || !strings.Contains(f.Message, tc.wantMsg) {
				t.Errorf("finding = %+v, want %s at cell %d line %d containing %q", f, tc.wantSev, tc.wantCell, tc.wantLine, tc.wantMsg)
			}
			if tc.wantSev == SevError && (len(res.Files) != 0 || res.Err() == nil) {
				t.Errorf("a notebook with a secret produced files: %v", res.Files)
			}
			if tc.wantSev == SevWarning && len(res.Files) == 0 {
				t.Errorf("allow_secrets: no files; findings %v", res.Findings)
			}
		})
	}
	t.Run("placeholders convert", func(t *testing.T) {
		res := Convert("ok.ipynb", secNotebook(t, nil, secCode("password = '<password>'\napi_key = 'your_api_key'\ntoken = '${TOKEN}'")), Options{})
		if fs := secFindings(res, CodeSecret); len(fs) != 0 {
			t.Errorf("secret findings for placeholders: %v", fs)
		}
		if res.Err() != nil {
			t.Errorf("Err() = %v", res.Err())
		}
	})
}

// secLeak returns a piece of secret (12 bytes or more, or all of a shorter
// secret) that appears in msg, or "".
func secLeak(msg, secret string) string {
	n := min(12, len(secret))
	for i := 0; i+n <= len(secret); i++ {
		if strings.Contains(msg, secret[i:i+n]) {
			return secret[i : i+n]
		}
	}
	return ""
}

// Findings name the kind, the cell and the line of a secret, never its value:
// reports end up in commit statuses and CI logs.
func TestConvertFindingsNeverContainSecretValues(t *testing.T) {
	tests := []struct {
		name   string
		secret string
		cells  []map[string]any
	}{
		{"plain assignment", secFakeAWSKeyID, []map[string]any{secCode("key_id = '" + secFakeAWSKeyID + "'")}},
		{"password", secFakePassword, []map[string]any{secCode("password = '" + secFakePassword + "'\nx = 1")}},
		{"stripped print", secFakeAWSKeyID, []map[string]any{secCode("print('" + secFakeAWSKeyID + "')\nx = 1")}},
		{"stripped display", secFakeJWT, []map[string]any{secCode("display('" + secFakeJWT + "')\nx = 1")}},
		{"print in a cell that ends up empty", secFakeGitHub, []map[string]any{secCode("x = 1"), secCode("print('" + secFakeGitHub + "')")}},
		{"pip install from a private repository", secFakeGitHub, []map[string]any{secCode("!pip install git+https://u:" + secFakeGitHub + "@github.com/o/r.git\nx = 1")}},
		{"environment magic", secFakeGitHub, []map[string]any{secCode("%env GH_TOKEN=" + secFakeGitHub + "\nx = 1")}},
		{"shell escape", secFakePassword, []map[string]any{secCode("!mysql --password=" + secFakePassword + " -e 'select 1'\nx = 1")}},
		{"long line cut inside the secret", secFakeGitHub, []map[string]any{secCode("!pip install --quiet --upgrade --no-cache-dir git+https://user:" + secFakeGitHub + "@github.com/o/r.git\nx = 1")}},
		{"long print cut inside the secret", secFakeGitHub, []map[string]any{secCode("print('a fairly long prefix to push the value towards the clip point', '" + secFakeGitHub + "')\nx = 1")}},
		{"markdown", secFakeGitHub, []map[string]any{secMarkdown("token " + secFakeGitHub), secCode("x = 1")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := Convert("leak.ipynb", secNotebook(t, nil, tc.cells...), Options{})
			if len(res.Findings) == 0 {
				t.Fatal("no findings at all")
			}
			for _, f := range res.Findings {
				if part := secLeak(f.Message, tc.secret); part != "" {
					t.Errorf("finding reveals %q of the secret value: %s", part, f)
				}
			}
			if err := res.Err(); err != nil && strings.Contains(err.Error(), tc.secret) {
				t.Errorf("Err() reveals the secret value: %v", err)
			}
		})
	}
}

// Fakes for the rules added for issue 7, assembled at run time.
var (
	secFakeSlackBot  = "xoxb" + "-" + strings.Repeat("1", 12) + "-" + strings.Repeat("2", 13) + "-" + strings.Repeat("aB", 12)
	secFakeSlackUser = "xoxp" + "-" + strings.Repeat("1", 12) + "-" + strings.Repeat("2", 12) + "-" + strings.Repeat("3", 13) + "-" + strings.Repeat("f0", 16)
	secFakeSlackHook = "https://hooks.slack" + ".com/services/T" + strings.Repeat("0", 8) + "/B" + strings.Repeat("0", 8) + "/" + strings.Repeat("x", 24)
	secFakeGitLab    = "glpat" + "-" + strings.Repeat("Gl", 10)
	secFakeGoogle    = "AIza" + "Sy" + strings.Repeat("G0", 16) + "g"
	secFakeAzureKey  = strings.Repeat("Az9+", 21) + "ab=="
)

func TestScanSecretsIssue7Kinds(t *testing.T) {
	tests := []struct{ name, text, what string }{
		{"Slack bot token", `client = WebClient(token="` + secFakeSlackBot + `")`, "Slack token"},
		{"Slack user token", `t = '` + secFakeSlackUser + `'`, "Slack token"},
		{"Slack webhook", `requests.post("` + secFakeSlackHook + `", json=msg)`, "Slack webhook URL"},
		{"GitLab token", `gl = gitlab.Gitlab(url, private_token="` + secFakeGitLab + `")`, "GitLab token"},
		{"Google API key", `url = f"https://maps.googleapis.com/x?key=` + secFakeGoogle + `"`, "Google API key"},
		{"Azure connection string", `conn = "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=` + secFakeAzureKey + `;EndpointSuffix=core.windows.net"`, "Azure storage key"},
		{"s3a secret key in code", `spark = SparkSession.builder.config("spark.hadoop.fs.s3a.secret.key", "` + secFakePassword + `").getOrCreate()`, "credential in a Spark setting"},
		{"s3a access key via conf.set", `sc._jsc.hadoopConfiguration().set('fs.s3a.access.key', '` + secFakePassword + `')`, "credential in a Spark setting"},
		{"Spark password in %%configure JSON", `{"conf": {"spark.ssl.keyPassword": "` + secFakePassword + `"}}`, "credential in a Spark setting"},
		{"Azure account key setting", `spark.conf.set("fs.azure.account.key.acct.dfs.core.windows.net", "` + secFakePassword + `")`, "credential in a Spark setting"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hits := scanSecrets(tc.text)
			found := false
			for _, h := range hits {
				found = found || h.what == tc.what
			}
			if !found {
				t.Fatalf("scanSecrets(%q) = %+v, want a %q hit", tc.text, hits, tc.what)
			}
			if r := redactSecrets(tc.text); r == tc.text {
				t.Errorf("redactSecrets left %q unchanged", tc.text)
			}
		})
	}
	for _, ok := range []string{
		`spark.conf.set("spark.hadoop.fs.s3a.secret.key", "<secret-key>")`,
		`.config("spark.hadoop.fs.s3a.secret.key", "${S3_SECRET}")`,
		`.config("spark.hadoop.fs.s3a.secret.key", "{{ var.value.s3_secret }}")`,
		`.config("spark.hadoop.fs.s3a.secret.key", os.environ["S3_SECRET"])`,
		`.config("spark.hadoop.fs.s3a.secret.key", secret)`,
		`conn = "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=<account-key>"`,
		`spark.conf.set("spark.sql.shuffle.partitions", "8")`,
		`glob = "glpat-short"`,
	} {
		if hits := scanSecrets(ok); len(hits) != 0 {
			t.Errorf("scanSecrets(%q) = %+v, want none (a placeholder or no value)", ok, hits)
		}
	}
}

func TestSecretsEverywhereThatReachesOutput(t *testing.T) {
	s3 := `"spark.hadoop.fs.s3a.secret.key": "` + secFakePassword + `"`
	cases := []struct {
		name     string
		data     []byte
		cell     int
		line     int
		contains string
	}{
		{"%%configure body", cellsNotebook("python3", "python", "x = 1", "%%configure -f\n{\"conf\": {\n  "+s3+"}}"), 2, 3, "in %%configure"},
		{"front matter", func() []byte {
			d := map[string]any{"nbformat": 4, "nbformat_minor": 5, "metadata": map[string]any{}, "cells": []any{
				map[string]any{"cell_type": "raw", "metadata": map[string]any{}, "source": "---\ndag_id: x\nspark_conf:\n  spark.hadoop.fs.s3a.secret.key: '" + secFakePassword + "'\n---\n"},
				map[string]any{"cell_type": "code", "metadata": map[string]any{}, "source": "x = 1", "outputs": []any{}},
			}}
			b, _ := json.Marshal(d)
			return b
		}(), 1, 4, "in the front matter"},
		{"Slack token in markdown", cellsNotebook("python3", "python", "md:Alerts go to "+secFakeSlackBot, "x = 1"), 0, 0, "Slack token in the markdown"},
		{"Google key in a parameters default", taggedNotebook(nil, code("maps_key = '"+secFakeGoogle+"'\n", "parameters")), 1, 1, "Google API key"},
		{"GitLab token in %%sql", cellsNotebook("python3", "python", "%%sql\nSELECT '"+secFakeGitLab+"' AS t"), 1, 2, "GitLab token"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := Convert("s.ipynb", tc.data, Options{})
			fs := secFindings(res, CodeSecret)
			if len(fs) == 0 || res.Err() == nil {
				t.Fatalf("no secret error: %v", res.Findings)
			}
			f := fs[0]
			if f.Cell != tc.cell || f.Line != tc.line || !strings.Contains(f.Message, tc.contains) {
				t.Fatalf("finding %+v, want cell %d line %d containing %q", f, tc.cell, tc.line, tc.contains)
			}
			for _, x := range res.Findings {
				if strings.Contains(x.Message, secFakePassword) || strings.Contains(x.Message, secFakeSlackBot) {
					t.Fatalf("a finding carries the secret: %s", x)
				}
			}
		})
	}
}

// TestPresentNeedlesAgreesWithContains: the one-pass needle search finds
// exactly what a strings.Contains per needle finds (case-insensitively for
// folded needles), on every slice boundary of texts built around needles.
func TestPresentNeedlesAgreesWithContains(t *testing.T) {
	naive := func(text string) uint64 {
		var m uint64
		lower := strings.ToLower(text)
		for k, n := range uniqueNeedles {
			if n.fold && n.s != strings.ToLower(n.s) {
				t.Fatalf("folded needle %q is not lower-case", n.s)
			}
			hay := text
			if n.fold {
				hay = lower
			}
			if strings.Contains(hay, n.s) {
				m |= 1 << k
			}
		}
		return m
	}
	texts := []string{"", "a", "@", "AK", "AKIA", "akia", "x = 'SeCrEt'\n", "PASSWORD=1 @host hooks.slack.com",
		"print(1)\nAccountKey=abc\nGR1348941", "glpat", "glpat-", "ghp_ghs_xapp-", "eyJ", "ey", "-pwd", "-PASS"}
	for _, n := range uniqueNeedles {
		texts = append(texts, n.s, "x"+n.s, strings.ToUpper(n.s)+"y", n.s[:len(n.s)-1])
	}
	for _, text := range texts {
		for i := 0; i <= len(text); i++ {
			for _, s := range []string{text[i:], text[:i]} {
				if got, want := presentNeedles(s), naive(s); got != want {
					t.Fatalf("presentNeedles(%q) = %b, want %b", s, got, want)
				}
			}
		}
	}
}
