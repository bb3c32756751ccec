package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/lmittmann/tint"
	"go.yaml.in/yaml/v3"

	"github.com/nbpipe/nbpipe/internal/examples"
	"github.com/nbpipe/nbpipe/internal/pipeline"
	"github.com/nbpipe/nbpipe/internal/server"
	"github.com/nbpipe/nbpipe/publish"
)

const demoUsage = `Usage: nbpipe demo [--dir DIR] [--listen ADDR]

Shows nbpipe serve doing its job on this machine, with nothing to install but
git. In DIR (default ./nbpipe-demo) it keeps:

  source.git   a bare source repository; its post-receive hook delivers each
               push to the server as a signed Gitea push webhook
  work/        your clone of source.git
  dags.git     the bare DAG (target) repository the server commits to
  state/       the server's spool, caches and audit.jsonl
  nbpipe.yaml  the server's configuration, webhook-secret its secret

It starts nbpipe serve on ADDR (default 127.0.0.1:8080; 127.0.0.1:0 picks a
free port), pushes the bundled example notebooks to source.git, prints the DAG
commit the server makes (files, trailers, the commit status it would set) and
keeps serving until Ctrl-C: edit a notebook in DIR/work, commit, git push, and
the next DAG commit prints. Run it again to pick up where it left off.
`

const (
	demoRepo       = "demo/notebooks"
	demoTargetDir  = "demo"
	demoBranch     = "main"
	demoZeroCommit = "0000000000000000000000000000000000000000"
)

// demoHookCommand is the command line the post-receive hook runs, before
// "demo hook ...": this very binary. Tests run their own binary instead.
var demoHookCommand = func() ([]string, error) {
	exe, err := os.Executable()
	return []string{exe}, err
}

// demoLayout names the demo's files.
type demoLayout struct{ dir string }

func (d demoLayout) source() string     { return filepath.Join(d.dir, "source.git") }
func (d demoLayout) target() string     { return filepath.Join(d.dir, "dags.git") }
func (d demoLayout) work() string       { return filepath.Join(d.dir, "work") }
func (d demoLayout) state() string      { return filepath.Join(d.dir, "state") }
func (d demoLayout) secretFile() string { return filepath.Join(d.dir, "webhook-secret") }
func (d demoLayout) config() string     { return filepath.Join(d.dir, "nbpipe.yaml") }
func (d demoLayout) audit() string      { return filepath.Join(d.state(), "audit.jsonl") }
func (d demoLayout) hook() string       { return filepath.Join(d.source(), "hooks", "post-receive") }
func (d demoLayout) sourceURL() string  { return demoFileURL(d.source()) }
func (d demoLayout) targetURL() string  { return demoFileURL(d.target()) }

func demoFileURL(path string) string { return "file://" + filepath.ToSlash(path) }

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "hook" {
		return runDemoHook(ctx, args[1:], os.Stdin, stderr)
	}
	fl := flag.NewFlagSet("demo", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Usage = func() { fmt.Fprint(stderr, demoUsage) }
	dirFlag := fl.String("dir", "nbpipe-demo", "the demo's directory")
	listen := fl.String("listen", "127.0.0.1:8080", "address the server listens on")
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, demoUsage)
			return 0
		}
		return 2
	}
	if fl.NArg() > 0 {
		fmt.Fprintf(stderr, "nbpipe demo: unexpected argument %q\n\n%s", fl.Arg(0), demoUsage)
		return 2
	}
	if _, err := exec.LookPath("git"); err != nil {
		fmt.Fprintln(stderr, "nbpipe demo: the demo drives git, which is not on PATH:", err)
		return 1
	}
	dir, err := filepath.Abs(*dirFlag)
	if err != nil {
		fmt.Fprintln(stderr, "nbpipe demo:", err)
		return 1
	}
	d := demoLayout{dir: dir}
	fresh, err := d.prepare(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "nbpipe demo:", err)
		return 1
	}

	l, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(stderr, "nbpipe demo: %v\n(is another nbpipe running there? --listen 127.0.0.1:0 picks a free port)\n", err)
		return 1
	}
	addr := l.Addr().String()
	webhookURL := "http://" + addr + "/webhook"
	log := slog.New(tint.NewTextHandler(stderr, &tint.Options{Level: slog.LevelWarn, TimeFormat: time.TimeOnly}))
	srv, err := d.server(addr, log)
	if err != nil {
		l.Close()
		fmt.Fprintln(stderr, "nbpipe demo:", err)
		return 1
	}
	serveCtx, stopServe := context.WithCancel(ctx)
	defer stopServe()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(serveCtx, l) }()
	// stop drains the server and returns code.
	stop := func(code int) int {
		stopServe()
		if err := <-errc; err != nil {
			fmt.Fprintln(stderr, "nbpipe demo: serve:", err)
		}
		fmt.Fprintf(stdout, "nbpipe demo: stopped. `nbpipe demo --dir %s` picks up where it left off.\n", d.dir)
		return code
	}
	hookCmd, err := d.writeHook(webhookURL)
	if err != nil {
		fmt.Fprintln(stderr, "nbpipe demo:", err)
		return stop(1)
	}

	w := &demoPrinter{out: stdout, d: d}
	if fresh {
		fmt.Fprintf(stdout, "nbpipe demo: a new demo in %s\n", dir)
	} else {
		fmt.Fprintf(stdout, "nbpipe demo: reusing the demo in %s\n", dir)
	}
	fmt.Fprintf(stdout, "nbpipe serve listens on %s: DAG commits go to %s, pushes of %s come from %s\n\n",
		webhookURL, d.target(), demoRepo, d.source())

	tail := &auditTail{path: d.audit()}
	old, err := tail.next()
	if err != nil {
		fmt.Fprintln(stderr, "nbpipe demo:", err)
	}
	head, _ := demoGitOut(ctx, "", "--git-dir", d.source(), "rev-parse", "-q", "--verify", "refs/heads/"+demoBranch)
	waiting := "" // the source commit whose DAG commit comes before the next steps
	// deliver posts a push of the branch from before to head, as the hook
	// would have.
	deliver := func(before string) error {
		secret, err := demoReadSecret(d.secretFile())
		if err != nil {
			return err
		}
		body := demoGiteaPushBody(demoRepo, d.sourceURL(), before, head, "refs/heads/"+demoBranch, demoCommits(ctx, d.source(), before, head))
		code, reply, err := demoPostGiteaPush(ctx, webhookURL, secret, body)
		if err == nil && code/100 != 2 {
			err = fmt.Errorf("the server answered %d %s", code, reply)
		}
		return err
	}
	if err := d.ensureWork(ctx); err != nil {
		fmt.Fprintln(stderr, "nbpipe demo:", err)
		return stop(1)
	}
	switch {
	case head == "":
		fmt.Fprintf(stdout, "Pushing the bundled example notebooks from %s to source.git; its post-receive hook delivers the push:\n", d.work())
		var delivered bool
		head, delivered, err = d.pushExamples(ctx, stdout)
		if err == nil && !delivered {
			fmt.Fprintln(stdout, "The post-receive hook did not deliver the push (see the git push output above); delivering it directly.")
			err = deliver(demoZeroCommit)
		}
		if err != nil {
			fmt.Fprintln(stderr, "nbpipe demo:", err)
			return stop(1)
		}
		waiting = head
		fmt.Fprintln(stdout, "\nWaiting for the DAG commit...")
	case demoCovered(old, head) != nil:
		fmt.Fprintln(stdout, "The last push and its DAG commit:")
		w.record(ctx, *demoCovered(old, head))
		w.nextSteps(hookCmd)
	default:
		// A push made while no server listened reached no one: deliver it now.
		before := demoZeroCommit
		if len(old) > 0 && old[len(old)-1].After != "" {
			before = old[len(old)-1].After
		}
		fmt.Fprintf(stdout, "source.git moved to %s while the demo was stopped; delivering that push now.\n", demoShort(head))
		if err := deliver(before); err != nil {
			fmt.Fprintln(stderr, "nbpipe demo:", err)
			return stop(1)
		}
		waiting = head
	}

	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	started := time.Now()
	for {
		select {
		case <-ctx.Done():
			return stop(0)
		case err := <-errc:
			if ctx.Err() != nil && err == nil { // Ctrl-C: Serve drained before this select saw ctx
				fmt.Fprintf(stdout, "nbpipe demo: stopped. `nbpipe demo --dir %s` picks up where it left off.\n", d.dir)
				return 0
			}
			fmt.Fprintln(stderr, "nbpipe demo: the server stopped:", err)
			return 1
		case <-tick.C:
		}
		recs, err := tail.next()
		if err != nil {
			fmt.Fprintln(stderr, "nbpipe demo:", err)
		}
		for _, r := range recs {
			w.record(ctx, r)
			if waiting != "" && demoCovered([]auditRecord{r}, waiting) != nil {
				waiting = ""
				w.nextSteps(hookCmd)
			}
		}
		if waiting != "" && time.Since(started) > time.Minute {
			fmt.Fprintf(stdout, "Still no DAG commit for %s after a minute: the server's log (stderr) says why.\n", demoShort(waiting))
			started = time.Now()
		}
	}
}

// prepare creates what is missing of the demo's directory and reports
// whether it created the source repository.
func (d demoLayout) prepare(ctx context.Context) (fresh bool, err error) {
	if err := os.MkdirAll(d.state(), 0o700); err != nil {
		return false, err
	}
	for _, repo := range []string{d.source(), d.target()} {
		if _, err := os.Stat(filepath.Join(repo, "HEAD")); err == nil {
			continue
		}
		fresh = fresh || repo == d.source()
		if _, err := demoGitOut(ctx, "", "init", "-q", "--bare", repo); err != nil {
			return false, err
		}
		if _, err := demoGitOut(ctx, "", "--git-dir", repo, "symbolic-ref", "HEAD", "refs/heads/"+demoBranch); err != nil {
			return false, err
		}
	}
	// A global core.hooksPath would bypass source.git/hooks.
	if _, err := demoGitOut(ctx, "", "--git-dir", d.source(), "config", "core.hooksPath", filepath.Dir(d.hook())); err != nil {
		return false, err
	}
	if _, err := os.Stat(d.secretFile()); errors.Is(err, fs.ErrNotExist) {
		b := make([]byte, 24)
		_, _ = rand.Read(b)
		if err := os.WriteFile(d.secretFile(), []byte(hex.EncodeToString(b)+"\n"), 0o600); err != nil {
			return false, err
		}
	}
	return fresh, nil
}

// demoConfigFile is the configuration file the demo writes and loads: the
// same file `nbpipe serve --config` reads.
type demoConfigFile struct {
	Listen        string             `yaml:"listen"`
	StateDir      string             `yaml:"state_dir"`
	TargetURL     string             `yaml:"target_url"`
	TargetBranch  string             `yaml:"target_branch"`
	Branches      []string           `yaml:"branches,flow"`
	RatePerMinute int                `yaml:"rate_per_minute"`
	RatePerHour   int                `yaml:"rate_per_hour"`
	LogFormat     string             `yaml:"log_format"`
	Sources       []demoSourceConfig `yaml:"sources"`
}

type demoSourceConfig struct {
	Repo      string `yaml:"repo"`
	CloneURL  string `yaml:"clone_url"`
	TargetDir string `yaml:"target_dir"`
}

// server writes nbpipe.yaml and builds the server from it, the way
// `nbpipe serve --config nbpipe.yaml --gitea-secret-file webhook-secret`
// would, with the environment ignored (an NBPIPE_TARGET_URL meant for
// production must not receive the demo's DAGs).
func (d demoLayout) server(addr string, log *slog.Logger) (*server.Server, error) {
	var body bytes.Buffer
	body.WriteString("# Written by nbpipe demo at each start. The same server without the demo:\n" +
		"#   nbpipe serve --config " + d.config() + " --gitea-secret-file " + d.secretFile() + "\n" +
		"# rate_per_minute and rate_per_hour 0: no rate limit.\n")
	enc := yaml.NewEncoder(&body)
	enc.SetIndent(2)
	err := enc.Encode(demoConfigFile{
		Listen: addr, StateDir: d.state(), TargetURL: d.targetURL(), TargetBranch: demoBranch,
		Branches: []string{demoBranch}, LogFormat: "text",
		Sources: []demoSourceConfig{{Repo: demoRepo, CloneURL: d.sourceURL(), TargetDir: demoTargetDir}},
	})
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(d.config(), body.Bytes(), 0o600); err != nil {
		return nil, err
	}
	cfg, err := server.Load([]string{"--config", d.config(), "--gitea-secret-file", d.secretFile()}, func(string) string { return "" })
	if err != nil {
		return nil, err
	}
	return server.New(cfg, log)
}

// writeHook (re)writes source.git's post-receive hook for this run's
// server address and binary, and returns the command it runs.
func (d demoLayout) writeHook(webhookURL string) (string, error) {
	argv, err := demoHookCommand()
	if err != nil {
		return "", fmt.Errorf("find the nbpipe binary for the hook: %w", err)
	}
	argv = append(argv, "demo", "hook", "--url", webhookURL, "--secret-file", d.secretFile(),
		"--repo", demoRepo, "--clone-url", d.sourceURL())
	quoted := make([]string, len(argv))
	for i, a := range argv {
		quoted[i] = demoShellQuote(a)
	}
	script := "#!/bin/sh\n" +
		"# Written by nbpipe demo at each start: delivers each push to the demo's\n" +
		"# nbpipe serve as a signed Gitea push webhook (git's \"old new ref\" lines on stdin).\n" +
		"exec " + strings.Join(quoted, " ") + "\n"
	if err := os.MkdirAll(filepath.Dir(d.hook()), 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(d.hook(), []byte(script), 0o755); err != nil {
		return "", err
	}
	return argv[0], os.Chmod(d.hook(), 0o755)
}

func demoShellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// ensureWork clones source.git into work/ unless it is there, with a git
// identity for the demo's commits when the machine has none.
func (d demoLayout) ensureWork(ctx context.Context) error {
	if _, err := os.Stat(filepath.Join(d.work(), ".git")); err != nil {
		if _, err := demoGitOut(ctx, "", "clone", "-q", d.source(), d.work()); err != nil {
			return err
		}
		if _, err := demoGitOut(ctx, d.work(), "symbolic-ref", "HEAD", "refs/heads/"+demoBranch); err != nil {
			return err
		}
	}
	for key, value := range map[string]string{"user.name": "nbpipe demo", "user.email": "demo@nbpipe.invalid"} {
		if v, _ := demoGitOut(ctx, d.work(), "config", "--get", key); v == "" {
			if _, err := demoGitOut(ctx, d.work(), "config", key, value); err != nil {
				return err
			}
		}
	}
	return nil
}

// pushExamples commits the bundled notebooks in work/ and pushes them with
// the git CLI, so the real hook fires. It returns the pushed commit and
// whether the hook reported a delivery.
func (d demoLayout) pushExamples(ctx context.Context, stdout io.Writer) (string, bool, error) {
	err := fs.WalkDir(examples.FS, ".", func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || !strings.HasSuffix(p, ".ipynb") {
			return err
		}
		data, err := examples.FS.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(d.work(), filepath.FromSlash(p)), data, 0o644)
	})
	if err != nil {
		return "", false, err
	}
	if _, err := demoGitOut(ctx, d.work(), "add", "-A", "."); err != nil {
		return "", false, err
	}
	if status, _ := demoGitOut(ctx, d.work(), "status", "--porcelain"); status != "" {
		if _, err := demoGitOut(ctx, d.work(), "-c", "commit.gpgsign=false", "commit", "-q", "-m", "Add the example notebooks"); err != nil {
			return "", false, err
		}
	}
	cmd := demoGit(ctx, d.work(), "push", "-u", "origin", demoBranch)
	out, err := cmd.CombinedOutput()
	fmt.Fprintf(stdout, "  $ git push -u origin %s\n", demoBranch)
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		fmt.Fprintln(stdout, "  "+strings.TrimRight(line, " "))
	}
	if err != nil {
		return "", false, fmt.Errorf("git push: %w", err)
	}
	head, err := demoGitOut(ctx, d.work(), "rev-parse", "HEAD")
	return head, strings.Contains(string(out), "nbpipe demo hook: delivered"), err
}

// demoGit is a git command in dir that ignores a repository the caller
// happens to be in (a demo started from a hook, say).
func demoGit(ctx context.Context, dir string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		switch k, _, _ := strings.Cut(kv, "="); k {
		case "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_COMMON_DIR":
		default:
			cmd.Env = append(cmd.Env, kv)
		}
	}
	return cmd
}

// demoGitOut runs git and returns its trimmed output.
func demoGitOut(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := demoGit(ctx, dir, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// auditRecord is one line of state/audit.jsonl.
type auditRecord struct {
	Delivery string           `json:"delivery"`
	Repo     string           `json:"repo"`
	Ref      string           `json:"ref"`
	Before   string           `json:"before"`
	After    string           `json:"after"`
	Report   *pipeline.Report `json:"report"`
	Error    string           `json:"error"`
}

// demoCovered returns the last record that published (or tried to publish)
// source commit sha.
func demoCovered(recs []auditRecord, sha string) *auditRecord {
	for i := len(recs) - 1; i >= 0; i-- {
		r := recs[i]
		if r.After == sha || r.Report != nil && r.Report.SourceCommit == sha {
			return &recs[i]
		}
	}
	return nil
}

// auditTail reads the audit log's new complete lines.
type auditTail struct {
	path string
	off  int64
}

func (a *auditTail) next() ([]auditRecord, error) {
	f, err := os.Open(a.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := f.Seek(a.off, io.SeekStart); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	var recs []auditRecord
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			return recs, nil // a line being written waits for the next call
		}
		line := data[:i]
		data = data[i+1:]
		a.off += int64(i + 1)
		var r auditRecord
		if err := json.Unmarshal(line, &r); err != nil {
			continue
		}
		recs = append(recs, r)
	}
}

// demoPrinter prints what the server did for each push.
type demoPrinter struct {
	out        io.Writer
	d          demoLayout
	lastTarget string
	told       bool
}

func (w *demoPrinter) record(ctx context.Context, r auditRecord) {
	out := w.out
	fmt.Fprintf(out, "Push of %s %s %s..%s (delivery %s):\n", r.Repo, r.Ref, demoShort(r.Before), demoShort(r.After), r.Delivery)
	state, desc := statusOf(r)
	if rep := r.Report; rep != nil && rep.TargetCommit != "" && rep.TargetCommit == w.lastTarget {
		fmt.Fprintf(out, "  covered by DAG commit %s, printed above\n", demoShort(rep.TargetCommit))
	} else if rep != nil {
		for _, nb := range rep.Notebooks {
			line := fmt.Sprintf("  %s: %s", nb.Path, nb.Change)
			if nb.DagID != "" {
				line += ", dag_id " + nb.DagID
			}
			if nb.Error != "" {
				line += ", failed: " + nb.Error
			}
			fmt.Fprintln(out, line)
			for i, f := range nb.Findings {
				if i == 3 {
					fmt.Fprintf(out, "      ... and %d more in %s\n", len(nb.Findings)-i, w.d.audit())
					break
				}
				fmt.Fprintln(out, "      "+f.String())
			}
		}
		if rep.TargetCommit != "" {
			w.lastTarget = rep.TargetCommit
			w.commit(ctx, rep.TargetCommit)
		}
	}
	fmt.Fprintf(out, "  commit status nbpipe would set on %s@%s (context %q):\n    %s: %s\n", r.Repo, demoShort(r.After), publish.StatusContext, state, desc)
	if !w.told {
		w.told = true
		fmt.Fprintln(out, "    (no forge here: the full report is in "+w.d.audit()+";\n"+
			"    with gitea_url and a Gitea token, or a GitHub token, nbpipe sets it on the source commit)")
	}
	fmt.Fprintln(out)
}

// commit prints a DAG commit: message (subject, body, trailers) and files.
func (w *demoPrinter) commit(ctx context.Context, sha string) {
	out := w.out
	fmt.Fprintf(out, "  DAG commit %s on %s of %s:\n", demoShort(sha), demoBranch, w.d.target())
	msg, err := demoGitOut(ctx, "", "--git-dir", w.d.target(), "log", "-1", "--format=%B", sha)
	if err != nil {
		fmt.Fprintln(out, "    ", err)
		return
	}
	for _, line := range strings.Split(msg, "\n") {
		fmt.Fprintln(out, strings.TrimRight("    | "+line, " "))
	}
	files, err := demoGitOut(ctx, "", "--git-dir", w.d.target(), "diff-tree", "-r", "--root", "--no-commit-id", "--name-status", sha)
	if err != nil {
		fmt.Fprintln(out, "    ", err)
		return
	}
	fmt.Fprintln(out, "  files (A added, M modified, D deleted):")
	for _, line := range strings.Split(files, "\n") {
		if kind, path, ok := strings.Cut(line, "\t"); ok {
			fmt.Fprintf(out, "    %s %s\n", kind, path)
		}
	}
}

// statusOf is the commit status the server sets for a processed push (as
// runLane does).
func statusOf(r auditRecord) (publish.State, string) {
	rep := r.Report
	switch {
	case rep == nil && r.Error != "":
		return publish.StateError, "nbpipe: " + r.Error
	case rep == nil:
		return publish.StateError, "no report"
	}
	state := publish.StateSuccess
	if rep.Failed() > 0 || len(rep.Refused) > 0 {
		state = publish.StateFailure
	}
	desc := rep.Summary()
	if r.After != rep.SourceCommit && !rep.UpToDate {
		desc = "with " + demoShort(rep.SourceCommit) + ": " + desc
	}
	return state, desc
}

func (w *demoPrinter) nextSteps(hookCmd string) {
	d := w.d
	fmt.Fprintf(w.out, `The server keeps running (Ctrl-C stops it). Edit a notebook and push: the hook delivers
the push and the next DAG commit prints here.

  cd %s
  perl -pi -e 's/that is the question/that is the answer/' word_count.ipynb
  git commit -qam "word count: another line" && git push
  git --git-dir %s log --stat    # the DAG repository's history

The hook (%s) runs %s%s;
a push made while the demo is stopped is delivered at its next start.

Next, a real forge: this is nbpipe serve running %s.
For your repositories, write such a file with
  target_url  your DAG repository (and --target-token-file FILE to push to it)
  gitea_url   your Gitea, with --gitea-token-file FILE (or --github-token-file), for the statuses
  sources     the repositories that publish, with their clone_url and target_dir
run nbpipe serve --config nbpipe.yaml --gitea-secret-file FILE (or --github-secret-file) where
the forge reaches it, and add a webhook to each source repository: http://HOST:8080/webhook,
JSON, push events, the same secret. README.md, "nbpipe serve", lists every setting.

`, d.work(), d.target(), d.hook(), hookCmd, demoGoRunNote(hookCmd), d.config())
}

// demoGoRunNote explains a binary that go run built in a temporary directory.
func demoGoRunNote(exe string) string {
	if strings.Contains(filepath.ToSlash(exe), "/go-build") {
		return ",\nwhich go run built in a temporary directory: it exists only while this demo runs"
	}
	return ""
}

// runDemoHook is the post-receive hook: each "old new ref" line of stdin
// becomes a Gitea push delivery, signed with the secret, to the server.
func runDemoHook(ctx context.Context, args []string, stdin io.Reader, stderr io.Writer) int {
	fl := flag.NewFlagSet("demo hook", flag.ContinueOnError)
	fl.SetOutput(stderr)
	url := fl.String("url", "", "the server's webhook URL")
	secretFile := fl.String("secret-file", "", "the Gitea webhook secret")
	repo := fl.String("repo", demoRepo, "the repository's full name in the payload")
	cloneURL := fl.String("clone-url", "", "the repository's clone URL in the payload")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if *url == "" || *secretFile == "" || *cloneURL == "" {
		fmt.Fprintln(stderr, "nbpipe demo hook: --url, --secret-file and --clone-url are required")
		return 2
	}
	secret, err := demoReadSecret(*secretFile)
	if err != nil {
		fmt.Fprintln(stderr, "nbpipe demo hook:", err)
		return 1
	}
	sc := bufio.NewScanner(stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 {
			continue
		}
		before, after, ref := f[0], f[1], f[2]
		body := demoGiteaPushBody(*repo, *cloneURL, before, after, ref, demoCommits(ctx, "", before, after))
		code, reply, err := demoPostGiteaPush(ctx, *url, secret, body)
		if err != nil {
			fmt.Fprintf(stderr, "nbpipe demo hook: %s %s..%s not delivered: %v\n"+
				"nbpipe demo hook: the next start of nbpipe demo delivers it\n", ref, demoShort(before), demoShort(after), err)
			continue
		}
		fmt.Fprintf(stderr, "nbpipe demo hook: delivered %s %s..%s to %s as a signed Gitea push: %d %s\n",
			ref, demoShort(before), demoShort(after), *url, code, reply)
	}
	return 0
}

func demoReadSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s := bytes.TrimSpace(b)
	if len(s) == 0 {
		return nil, fmt.Errorf("%s is empty", path)
	}
	return s, nil
}

// demoGiteaCommit and demoGiteaUser follow Gitea's PayloadCommit and User.
type demoGiteaCommit struct {
	ID        string        `json:"id"`
	Message   string        `json:"message"`
	URL       string        `json:"url"`
	Author    demoGiteaUser `json:"author"`
	Committer demoGiteaUser `json:"committer"`
	Timestamp string        `json:"timestamp"`
	Added     []string      `json:"added"`
	Removed   []string      `json:"removed"`
	Modified  []string      `json:"modified"`
}

type demoGiteaUser struct {
	Name     string `json:"name"`
	Email    string `json:"email"`
	UserName string `json:"username"`
}

// demoCommits lists the pushed commits, newest first, at most 20, read
// with git in gitDir ("" for the hook's own repository).
func demoCommits(ctx context.Context, gitDir, before, after string) []demoGiteaCommit {
	if after == demoZeroCommit {
		return nil
	}
	args := []string{"log", "-n", "20", "--format=%H%x00%an%x00%ae%x00%cn%x00%ce%x00%aI%x00%B%x1e", after}
	if before != demoZeroCommit {
		args = append(args, "^"+before)
	}
	cmd := exec.CommandContext(ctx, "git", args...) // the hook's environment names its repository
	if gitDir != "" {
		cmd = demoGit(ctx, "", append([]string{"--git-dir", gitDir}, args...)...)
	}
	out, err := cmd.Output()
	if err != nil {
		return nil
	}
	var commits []demoGiteaCommit
	for _, rec := range strings.Split(string(out), "\x1e") {
		f := strings.SplitN(strings.TrimLeft(rec, "\n"), "\x00", 7)
		if len(f) != 7 {
			continue
		}
		commits = append(commits, demoGiteaCommit{ID: f[0], Message: strings.TrimSpace(f[6]) + "\n", Timestamp: f[5],
			Author: demoGiteaUser{Name: f[1], Email: f[2]}, Committer: demoGiteaUser{Name: f[3], Email: f[4]},
			Added: []string{}, Removed: []string{}, Modified: []string{}})
	}
	return commits
}

// demoGiteaPushBody is a push payload shaped as Gitea sends it (PushPayload in
// Gitea's modules/structs/hook.go), for the demo's repository and user.
func demoGiteaPushBody(repo, cloneURL, before, after, ref string, commits []demoGiteaCommit) []byte {
	owner, name, _ := strings.Cut(repo, "/")
	user := map[string]any{"id": 1, "login": "demo", "username": "demo", "full_name": "nbpipe demo", "email": "demo@nbpipe.invalid"}
	var head any
	if len(commits) > 0 {
		head = commits[0]
	}
	if commits == nil {
		commits = []demoGiteaCommit{}
	}
	body, _ := json.Marshal(map[string]any{
		"ref": ref, "before": before, "after": after, "compare_url": "",
		"commits": commits, "total_commits": len(commits), "head_commit": head,
		"repository": map[string]any{
			"id": 1, "owner": map[string]any{"id": 1, "login": owner, "username": owner},
			"name": name, "full_name": repo, "private": false, "fork": false, "empty": false,
			"clone_url": cloneURL, "html_url": "", "ssh_url": "", "default_branch": demoBranch,
		},
		"pusher": user, "sender": user,
	})
	return body
}

// demoPostGiteaPush delivers body as Gitea does: X-Gitea-Event push, a random
// X-Gitea-Delivery and X-Gitea-Signature, the hex HMAC-SHA256 of the body.
// It returns the status code and the server's one-line answer.
func demoPostGiteaPush(ctx context.Context, url string, secret, body []byte) (int, string, error) {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	id[6], id[8] = id[6]&0x0f|0x40, id[8]&0x3f|0x80 // a version 4 UUID, as Gitea's
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "nbpipe-demo-hook")
	req.Header.Set("X-Gitea-Event", "push")
	req.Header.Set("X-Gitea-Event-Type", "push")
	req.Header.Set("X-Gitea-Delivery", fmt.Sprintf("%x-%x-%x-%x-%x", id[0:4], id[4:6], id[6:8], id[8:10], id[10:]))
	req.Header.Set("X-Gitea-Signature", hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	var reply struct{ Status, Reason string }
	if json.Unmarshal(raw, &reply) == nil && reply.Status != "" {
		if reply.Reason != "" {
			reply.Status += " (" + reply.Reason + ")"
		}
		return resp.StatusCode, reply.Status, nil
	}
	return resp.StatusCode, strings.TrimSpace(string(raw)), nil
}

func demoShort(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}
