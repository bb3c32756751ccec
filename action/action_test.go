package action

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sethvargo/go-githubactions"

	"github.com/nbpipe/nbpipe/convert"
	"github.com/nbpipe/nbpipe/internal/gittest"
	"github.com/nbpipe/nbpipe/internal/pipeline"
	"github.com/nbpipe/nbpipe/publish"
)

// TestRunOnAPushEvent runs the entrypoint the way a runner does: the
// documented GITHUB_* variables, INPUT_* inputs, an event file, and the
// output and step-summary files. The repositories are real git servers.
func TestRunOnAPushEvent(t *testing.T) {
	srv := gittest.NewServer(t)
	src := srv.Repo(t, "team/notebooks")
	target := srv.Repo(t, "dags")
	work := gittest.Clone(t, src)
	after := gittest.Commit(t, work, "notebooks", map[string]string{
		"etl.ipynb":    `{"nbformat": 4, "metadata": {}, "cells": [{"cell_type": "code", "metadata": {}, "source": "x = 1"}]}`,
		"broken.ipynb": `{"nbformat": 4`,
	})
	gittest.Run(t, work, "git", "push", "-q", "origin", "main")

	dir := t.TempDir()
	event := filepath.Join(dir, "event.json")
	payload, _ := json.Marshal(map[string]any{"ref": "refs/heads/main", "before": strings.Repeat("0", 40), "after": after,
		"repository": map[string]any{"full_name": "team/notebooks"}, "sender": map[string]any{"login": "dev"}})
	if err := os.WriteFile(event, payload, 0o644); err != nil {
		t.Fatal(err)
	}
	outputs, summary := filepath.Join(dir, "output"), filepath.Join(dir, "summary")
	for _, f := range []string{outputs, summary} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{
		"GITHUB_EVENT_NAME": "push", "GITHUB_EVENT_PATH": event, "GITHUB_REPOSITORY": "team/notebooks",
		"GITHUB_SERVER_URL": srv.URL, "GITHUB_RUN_ID": "7", "GITHUB_RUN_ATTEMPT": "1",
		"GITHUB_OUTPUT": outputs, "GITHUB_STEP_SUMMARY": summary, "RUNNER_TEMP": t.TempDir(),
		"INPUT_TARGET-URL": target, "INPUT_TARGET-DIR": "team", "INPUT_MODE": "per_cell",
	}
	getenv := func(k string) string { return env[k] }
	a := githubactions.New(githubactions.WithGetenv(getenv), githubactions.WithWriter(io.Discard))
	err := Run(context.Background(), a, getenv, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || !strings.Contains(err.Error(), "1 notebook(s) converted, 1 failed") {
		t.Fatalf("the step must fail when a notebook failed, after publishing the rest: %v", err)
	}
	out, _ := os.ReadFile(outputs)
	for _, want := range []string{"converted<<", "failed<<", "target-commit<<"} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("outputs lack %s:\n%s", want, out)
		}
	}
	sum, _ := os.ReadFile(summary)
	if !strings.Contains(string(sum), `| etl\.ipynb | added | converted | team/dags/etl\.py |`) || !strings.Contains(string(sum), "**failed**") {
		t.Fatalf("step summary:\n%s", sum)
	}
	check := gittest.Clone(t, target)
	dag, err := os.ReadFile(filepath.Join(check, "team", "dags", "etl.py"))
	if err != nil || !strings.Contains(string(dag), "# source-commit: "+after) {
		t.Fatalf("DAG not published: %v", err)
	}
	msg := gittest.Run(t, check, "git", "log", "-1", "--format=%B")
	if !strings.Contains(msg, "Source-Commit: "+after) {
		t.Fatalf("commit message:\n%s", msg)
	}

	// Other events are ignored.
	env["GITHUB_EVENT_NAME"] = "issues"
	if err := Run(context.Background(), a, getenv, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatalf("issues: %v", err)
	}
}

// runEnv is a runner's environment for an event file holding body.
func runEnv(t *testing.T, body string) (map[string]string, string) {
	t.Helper()
	dir := t.TempDir()
	event := filepath.Join(dir, "event.json")
	if err := os.WriteFile(event, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	outputs, summary := filepath.Join(dir, "output"), filepath.Join(dir, "summary")
	for _, f := range []string{outputs, summary} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return map[string]string{
		"GITHUB_EVENT_NAME": "push", "GITHUB_EVENT_PATH": event, "GITHUB_REPOSITORY": "acme/notebooks",
		"GITHUB_SERVER_URL": "http://127.0.0.1:1", "GITHUB_RUN_ID": "7", "GITHUB_RUN_ATTEMPT": "1",
		"GITHUB_OUTPUT": outputs, "GITHUB_STEP_SUMMARY": summary, "RUNNER_TEMP": t.TempDir(),
		"INPUT_TARGET-URL": "http://127.0.0.1:1/dags.git",
	}, summary
}

// TestRunRefusesAnEventThatIsNotAPush: an event file holding null, {}, []
// or a string is a clear error, not a panic (which exits 2 with a stack).
func TestRunRefusesAnEventThatIsNotAPush(t *testing.T) {
	for _, body := range []string{"null", "{}", "[]", `"push"`, "", "{"} {
		t.Run(body, func(t *testing.T) {
			env, _ := runEnv(t, body)
			getenv := func(k string) string { return env[k] }
			var out strings.Builder
			a := githubactions.New(githubactions.WithGetenv(getenv), githubactions.WithWriter(&out))
			var err error
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("Run panicked on an event file holding %q: %v", body, r)
					}
				}()
				err = Run(context.Background(), a, getenv, slog.New(slog.NewTextHandler(io.Discard, nil)))
			}()
			if err == nil {
				t.Fatalf("Run accepted an event file holding %q", body)
			}
			if !strings.Contains(err.Error(), "event") {
				t.Fatalf("the error does not say the event file is at fault: %v", err)
			}
		})
	}
}

// hostile are notebook paths and error texts a pushed repository controls.
var hostile = []string{
	"[x](http://evil)",
	"![i](http://e/i.png)",
	"`code`",
	"**b**",
	"__u__ _e_ *e*",
	"~~s~~",
	"# heading",
	"a|b",
	"<img src=x onerror=alert(1)>",
	"<http://evil>",
	"http://evil.example/x",
	"www.evil.example",
	"mail@evil.example",
	"@someone",
	"acme/notebooks#12",
	"$x^2$",
	"&lt;b&gt;",
	"\\[x\\](y)",
	"1. list",
	"- item",
	"line one\nline two\r\n## injected heading",
	"[ref]: http://evil",
}

// plainInMarkdown reports the first ASCII punctuation character of s that is
// not backslash-escaped ("/" has no meaning in Markdown and may stay), and
// whether s holds a line break.
func plainInMarkdown(s string) (bad string, ok bool) {
	if strings.ContainsAny(s, "\r\n") {
		return "line break", false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' {
			if i+1 >= len(s) || !isASCIIPunct(s[i+1]) {
				return "lone backslash", false
			}
			i++
			continue
		}
		if isASCIIPunct(c) && c != '/' {
			return string(c), false
		}
	}
	return "", true
}

func isASCIIPunct(c byte) bool {
	return c >= '!' && c <= '/' || c >= ':' && c <= '@' || c >= '[' && c <= '`' || c >= '{' && c <= '~'
}

func unescapeMarkdown(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func TestMarkdownText(t *testing.T) {
	for _, s := range hostile {
		got := MarkdownText(s)
		if bad, ok := plainInMarkdown(got); !ok {
			t.Errorf("MarkdownText(%q) = %q: %s left as Markdown", s, got, bad)
		}
		want := strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
		if back := unescapeMarkdown(got); back != want {
			t.Errorf("MarkdownText(%q) renders as %q, not the text", s, back)
		}
	}
	if got := MarkdownText("notebooks/etl_v2.ipynb"); got != `notebooks/etl\_v2\.ipynb` {
		t.Errorf("a plain path: %q", got)
	}
	if got := MarkdownText("tab\there\x00nul\x7f"); strings.ContainsAny(got, "\t\x00\x7f") {
		t.Errorf("control characters kept: %q", got)
	}
}

// hostileReport is a report whose paths and errors are all hostile.
func hostileReport() *pipeline.Report {
	rep := &pipeline.Report{Repo: "acme/notebooks", Ref: "refs/heads/main", SourceCommit: strings.Repeat("a", 40)}
	for i, s := range hostile {
		nb := pipeline.NotebookReport{Path: "nb/" + s + ".ipynb", Change: publish.Added, Files: []string{"dags/" + s + ".py"}}
		if i%2 == 0 {
			nb.Error = "cell 3: " + s
		}
		rep.Notebooks = append(rep.Notebooks, nb)
	}
	rep.Refused = []string{"dags/" + hostile[0] + ".py", "dags/`x`.py"}
	return rep
}

// TestSummaryEscapesThePushedText: nothing a pushed repository names turns
// into a link, an image, emphasis, a heading or another table cell.
func TestSummaryEscapesThePushedText(t *testing.T) {
	rep := hostileReport()
	md := summary(rep)
	lines := strings.Split(strings.TrimRight(md, "\n"), "\n")
	rows := 0
	for _, line := range lines {
		if !strings.HasPrefix(line, "| nb/") {
			continue
		}
		rows++
		cells := splitRow(line)
		if len(cells) != 4 {
			t.Errorf("row has %d cells, not 4: %s", len(cells), line)
			continue
		}
		for _, c := range cells {
			if bad, ok := plainInMarkdown(c); !ok && !strings.HasPrefix(c, "**failed**") {
				t.Errorf("cell %q: %s left as Markdown", c, bad)
			}
			if v, ok := strings.CutPrefix(c, "**failed**: "); ok {
				if bad, ok := plainInMarkdown(v); !ok {
					t.Errorf("error %q: %s left as Markdown", v, bad)
				}
			}
		}
	}
	if rows != len(hostile) {
		t.Fatalf("%d notebook rows for %d notebooks: a path broke the table\n%s", rows, len(hostile), md)
	}
	for _, line := range lines {
		if v, ok := strings.CutPrefix(line, "Not changed (no nbpipe ownership marker): "); ok {
			if bad, ok := plainInMarkdown(v); !ok {
				t.Errorf("refused path %q: %s left as Markdown", v, bad)
			}
		}
	}
}

// splitRow splits a table row at its unescaped pipes.
func splitRow(line string) []string {
	var cells []string
	var cur strings.Builder
	for i := 1; i < len(line); i++ { // after the leading pipe
		switch c := line[i]; {
		case c == '\\' && i+1 < len(line):
			cur.WriteByte(c)
			cur.WriteByte(line[i+1])
			i++
		case c == '|':
			cells = append(cells, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	return cells
}

// TestErrorAnnotationsPointAtTheNotebook: a failed notebook is an ::error
// workflow command with file=<path>, so the forge attaches it to the file;
// the message cannot end the command or start another one.
func TestErrorAnnotationsPointAtTheNotebook(t *testing.T) {
	var out strings.Builder
	dir := t.TempDir()
	env := map[string]string{"GITHUB_OUTPUT": filepath.Join(dir, "out"), "GITHUB_STEP_SUMMARY": filepath.Join(dir, "sum")}
	a := githubactions.New(githubactions.WithGetenv(func(k string) string { return env[k] }), githubactions.WithWriter(&out))
	rep := &pipeline.Report{Notebooks: []pipeline.NotebookReport{
		{Path: "etl.ipynb", Change: publish.Added},
		{Path: "team/a,b:c.ipynb", Change: publish.Modified, Error: "cell 2 failed\n100% sure\r\n::warning::injected"},
	}}
	report(a, rep, func(s string) string { return s }, false)
	var errs []string
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(line, "::warning") {
			t.Errorf("the error message started a workflow command: %q", line)
		}
		if strings.HasPrefix(line, "::error") {
			errs = append(errs, line)
		}
	}
	want := "::error file=team/a%2Cb%3Ac.ipynb::team/a,b:c.ipynb: cell 2 failed%0A100%25 sure%0D%0A::warning::injected"
	if len(errs) != 1 || errs[0] != want {
		t.Fatalf("annotations:\n%q\nwant\n%q", errs, want)
	}
}

// TestRunPrintsNoToken: whatever fails, no token given to the Action, nor
// the credentials of any URL, reaches the step's error, its log, its
// workflow commands, its summary or its outputs.
func TestRunPrintsNoToken(t *testing.T) {
	srv := gittest.NewServer(t)
	src := srv.Repo(t, "acme/notebooks")
	work := gittest.Clone(t, src)
	after := gittest.Commit(t, work, "notebooks", map[string]string{
		"etl.ipynb": `{"nbformat": 4, "metadata": {}, "cells": [{"cell_type": "code", "metadata": {}, "source": "x = 1"}]}`,
	})
	gittest.Run(t, work, "git", "push", "-q", "origin", "main")
	payload, _ := json.Marshal(map[string]any{"ref": "refs/heads/main", "before": strings.Repeat("0", 40), "after": after,
		"repository": map[string]any{"full_name": "acme/notebooks"}, "sender": map[string]any{"login": "dev"}})
	env, summary := runEnv(t, string(payload))
	secrets := []string{"tok-source-1234", "tok-target-5678", "inline-pw-9999"}
	env["GITHUB_SERVER_URL"] = srv.URL
	env["INPUT_TOKEN"] = secrets[0]
	env["INPUT_TARGET-TOKEN"] = secrets[1]
	// A target that does not answer, with a token as the user of its URL
	// (url.Redacted masks only passwords).
	env["INPUT_TARGET-URL"] = "http://" + secrets[2] + "@127.0.0.1:1/dags.git"
	getenv := func(k string) string { return env[k] }
	var out, logs strings.Builder
	a := githubactions.New(githubactions.WithGetenv(getenv), githubactions.WithWriter(&out))
	err := Run(context.Background(), a, getenv, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err == nil {
		t.Fatal("Run succeeded against a target that does not answer")
	}
	sum, _ := os.ReadFile(summary)
	outputs, _ := os.ReadFile(env["GITHUB_OUTPUT"])
	for name, text := range map[string]string{"error": err.Error(), "workflow commands": out.String(), "log": logs.String(), "summary": string(sum), "outputs": string(outputs)} {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("the %s holds %s:\n%s", name, s, text)
			}
		}
	}
	t.Logf("error: %v", err)
}

// TestRunClonesAPrivateSource: the token input reaches the forge the run
// belongs to (GITHUB_SERVER_URL), so a private source repository clones.
func TestRunClonesAPrivateSource(t *testing.T) {
	gitPath, err := exec.LookPath("git")
	if err != nil {
		t.Skip("git not installed")
	}
	srv := gittest.NewServer(t)
	src := srv.Repo(t, "acme/notebooks")
	target := srv.Repo(t, "dags")
	work := gittest.Clone(t, src)
	after := gittest.Commit(t, work, "notebooks", map[string]string{
		"etl.ipynb": `{"nbformat": 4, "metadata": {}, "cells": [{"cell_type": "code", "metadata": {}, "source": "x = 1"}]}`,
	})
	gittest.Run(t, work, "git", "push", "-q", "origin", "main")
	// The same repositories behind Basic auth, as a private repository on
	// the forge.
	backend := &cgi.Handler{Path: gitPath, Args: []string{"http-backend"}, Env: []string{"GIT_PROJECT_ROOT=" + srv.Root, "GIT_HTTP_EXPORT_ALL=1"}}
	private := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pass, ok := r.BasicAuth(); !ok || pass != "src-token-1234" {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, r)
	}))
	t.Cleanup(private.Close)

	payload, _ := json.Marshal(map[string]any{"ref": "refs/heads/main", "before": strings.Repeat("0", 40), "after": after,
		"repository": map[string]any{"full_name": "acme/notebooks"}, "sender": map[string]any{"login": "dev"}})
	env, _ := runEnv(t, string(payload))
	env["GITHUB_SERVER_URL"] = private.URL
	env["INPUT_TOKEN"] = "src-token-1234"
	env["INPUT_TARGET-URL"] = target
	getenv := func(k string) string { return env[k] }
	a := githubactions.New(githubactions.WithGetenv(getenv), githubactions.WithWriter(io.Discard))
	if err := Run(context.Background(), a, getenv, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatalf("a private source with the token input: %v", err)
	}
	out, _ := os.ReadFile(env["GITHUB_OUTPUT"])
	if !strings.Contains(string(out), "converted<<") || !strings.Contains(string(out), "\n1\n") {
		t.Fatalf("outputs:\n%s", out)
	}
}

// TestDeploymentsAskedForAreNotSilent: a published notebook that asks for an
// Airflow trigger or an Ilum target gets a warning on its file, since the
// Action only publishes; one that asks for neither gets none.
func TestDeploymentsAskedForAreNotSilent(t *testing.T) {
	var out strings.Builder
	dir := t.TempDir()
	env := map[string]string{"GITHUB_OUTPUT": filepath.Join(dir, "out"), "GITHUB_STEP_SUMMARY": filepath.Join(dir, "sum")}
	a := githubactions.New(githubactions.WithGetenv(func(k string) string { return env[k] }), githubactions.WithWriter(&out))
	convertNB := func(path, meta string) pipeline.NotebookReport {
		nb := `{"nbformat": 4, "metadata": {"nbpipe": ` + meta + `}, "cells": [{"cell_type": "code", "metadata": {}, "source": "x = 1"}]}`
		res := convert.Convert(path, []byte(nb), convert.Options{})
		if err := res.Err(); err != nil {
			t.Fatal(err)
		}
		return pipeline.NotebookReport{Path: path, Change: publish.Added, Result: res}
	}
	rep := &pipeline.Report{TargetCommit: "abc", Notebooks: []pipeline.NotebookReport{
		convertNB("run.ipynb", `{"trigger": true}`),
		convertNB("svc.ipynb", `{"targets": ["airflow", "ilum_service"]}`),
		convertNB("plain.ipynb", `{}`),
	}}
	report(a, rep, func(s string) string { return s }, false)
	var warns []string
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(line, "::warning") {
			warns = append(warns, line)
		}
	}
	if len(warns) != 2 || !strings.HasPrefix(warns[0], "::warning file=run.ipynb::run.ipynb: trigger: true: the Action published the files but was given no airflow-url") ||
		!strings.HasPrefix(warns[1], "::warning file=svc.ipynb::svc.ipynb: target ilum_service:") {
		t.Fatalf("warnings:\n%s", strings.Join(warns, "\n"))
	}
}
