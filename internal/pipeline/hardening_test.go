package pipeline

import (
	"context"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/nbpipe/nbpipe/convert"
	"github.com/nbpipe/nbpipe/internal/gittest"
	"github.com/nbpipe/nbpipe/publish"
	"github.com/nbpipe/nbpipe/webhook"
)

// Item 9: Airflow's dag_ids are global. A second repository publishing the
// same dag_id under its own directory is refused; the first one's DAG stays.
func TestDagIDTakenInAnotherDirectoryIsRefused(t *testing.T) {
	srv := gittest.NewServer(t)
	target := srv.Repo(t, "dags")
	urls := map[string]string{"a/notebooks": srv.Repo(t, "a/notebooks"), "b/notebooks": srv.Repo(t, "b/notebooks")}
	p := New(Config{
		Lookup: func(repo string) (Source, bool) {
			u, ok := urls[repo]
			return Source{CloneURL: u, TargetDir: strings.Split(repo, "/")[0]}, ok
		},
		TargetURL: target, TargetBranch: "main", CacheDir: t.TempDir(),
		Author: publish.Author{Name: "nbpipe", Email: "nbpipe@localhost"},
	})
	push := func(repo, code string) *Report {
		work := gittest.Clone(t, urls[repo])
		after := gittest.Commit(t, work, "add", map[string]string{"etl.ipynb": notebook(code, map[string]any{"dag_id": "sales_daily"})})
		gittest.Run(t, work, "git", "push", "-q", "origin", "main")
		rep, err := p.Process(context.Background(), webhook.PushEvent{Forge: webhook.Gitea, Repo: repo, Ref: "refs/heads/main", Before: webhook.ZeroSHA, After: after})
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	if rep := push("a/notebooks", "x = 1\n"); rep.Failed() != 0 || rep.TargetCommit == "" {
		t.Fatalf("first owner: %+v", rep)
	}
	rep := push("b/notebooks", "x = 2\n")
	got := notebookResult(rep, "etl.ipynb")
	if !strings.Contains(got.Error, `dag_id "sales_daily" is already published as a/dags/sales_daily.py by notebook etl.ipynb of a/notebooks`) {
		t.Fatalf("newcomer's error: %q", got.Error)
	}
	if rep.TargetCommit != "" || len(got.Files) != 0 {
		t.Fatalf("the newcomer published: %+v", rep)
	}
}

// Items 11 and 12: a notebook path with control characters and a notebook
// over the size cap are refused with clear errors; the others in the same
// push are published, and no raw path reaches the commit message.
func TestBadPathsAndOversizedNotebooksAreRefused(t *testing.T) {
	f := newFixture(t)
	f.p.cfg.MaxNotebookBytes = 4096
	big := notebook("x = '"+strings.Repeat("a", 5000)+"'\n", nil)
	forged := "evil\nSource-Commit: 0000.ipynb"
	work := f.work
	if err := exec.Command("sh", "-c", "cd "+work+" && printf '%s' \"$0\" > \"$1\"", notebook("y = 1\n", nil), forged).Run(); err != nil {
		t.Fatal(err)
	}
	gittest.Run(t, work, "git", "add", "-A")
	rep := f.push("mixed", map[string]string{"big.ipynb": big, "good.ipynb": notebook("z = 1\n", nil)})
	if e := notebookResult(rep, forged).Error; !strings.Contains(e, "control characters") || !strings.Contains(e, `\n`) {
		t.Fatalf("control-character path: %q", e)
	}
	if e := notebookResult(rep, "big.ipynb").Error; !strings.Contains(e, "over the 0.0 MiB limit") && !strings.Contains(e, "max_notebook_size") {
		t.Fatalf("oversized notebook: %q", e)
	}
	if notebookResult(rep, "good.ipynb").Error != "" || rep.TargetCommit == "" {
		t.Fatalf("the good notebook was not published: %+v", rep)
	}
	dir, _ := f.targetFiles()
	msg := gittest.Run(t, dir, "git", "log", "-1", "--format=%B")
	trailers := 0
	for _, line := range strings.Split(msg, "\n") {
		if strings.HasPrefix(line, "Source-Commit:") {
			trailers++
		}
	}
	if trailers != 1 {
		t.Fatalf("the path forged a trailer line:\n%s", msg)
	}
}

// Item 10: the longest dag_id convert accepts still gives file names git
// checkouts can write, for every target.
func TestLongestDagIDFitsFileNames(t *testing.T) {
	id := strings.Repeat("d", convert.MaxDagIDLen)
	res := convert.Convert("nb.ipynb", []byte(notebook("x = 1\n", map[string]any{"dag_id": id, "targets": []string{"airflow", "pyfile", "ilum_service"}})), convert.Options{})
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	for _, f := range res.Files {
		if n := len(filepath.Base(f.Path)); n > 255 {
			t.Errorf("%s: %d bytes", f.Path, n)
		}
	}
	res = convert.Convert("nb.ipynb", []byte(notebook("x = 1\n", map[string]any{"dag_id": id + "d"})), convert.Options{})
	if res.Err() == nil || !strings.Contains(res.Err().Error(), "255 bytes") {
		t.Fatalf("a dag_id one longer: %v", res.Err())
	}
	if why := convert.BadOutputPath("team/" + strings.Repeat("x", 256) + "/dags/a.py"); why == "" {
		t.Fatal("an overlong directory name passed")
	}
}

// Item 8: the token is sent only to the host it was configured for; a
// source on another host is fetched without it.
func TestTokenNeverSentToAnotherHost(t *testing.T) {
	root := t.TempDir()
	gitPath, err := exec.LookPath("git")
	if err != nil {
		t.Skip("git not installed")
	}
	gittest.Run(t, "", "git", "init", "-q", "--bare", "--initial-branch=main", filepath.Join(root, "src.git"))
	gittest.Run(t, filepath.Join(root, "src.git"), "git", "config", "http.receivepack", "true")
	var mu sync.Mutex
	var auth []string
	backend := &cgi.Handler{Path: gitPath, Args: []string{"http-backend"}, Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"}}
	foreign := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auth = append(auth, r.Header.Get("Authorization"))
		mu.Unlock()
		backend.ServeHTTP(w, r)
	}))
	defer foreign.Close()
	work := gittest.Clone(t, foreign.URL+"/src.git")
	after := gittest.Commit(t, work, "a", map[string]string{"a.ipynb": notebook("x = 1\n", nil)})
	gittest.Run(t, work, "git", "push", "-q", "origin", "main")
	mu.Lock()
	auth = nil
	mu.Unlock()

	srv := gittest.NewServer(t)
	p := New(Config{
		Lookup: func(string) (Source, bool) {
			// The token belongs to gitea.internal; the signed payload names
			// another server.
			return Source{Token: "gitea-token", TokenHost: "gitea.internal:3000", TargetDir: "x"}, true
		},
		TargetURL: srv.Repo(t, "dags"), TargetBranch: "main", CacheDir: t.TempDir(),
	})
	rep, err := p.Process(context.Background(), webhook.PushEvent{Forge: webhook.Gitea, Repo: "x/src", Ref: "refs/heads/main",
		Before: webhook.ZeroSHA, After: after, CloneURL: foreign.URL + "/src.git"})
	if err != nil || rep.TargetCommit == "" {
		t.Fatalf("process: %+v %v", rep, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(auth) == 0 {
		t.Fatal("the foreign host saw no request")
	}
	for _, a := range auth {
		if a != "" {
			t.Fatalf("the foreign host got credentials: %q", a)
		}
	}
	if sameHost(foreign.URL, "gitea.internal:3000") || !sameHost("http://gitea.internal:3000/x.git", "gitea.internal:3000") || sameHost("http://x/y", "") {
		t.Fatal("sameHost")
	}
}

// A DAG bundle reads the whole target repository: each target directory
// gets an .airflowignore for the job files and service classes, unless the
// platform team keeps its own there.
func TestAirflowIgnoreBesideTheDAGs(t *testing.T) {
	f := newFixture(t)
	f.push("a", map[string]string{"etl.ipynb": notebook("x = 1\n", map[string]any{"targets": []string{"airflow", "pyfile"}})})
	_, files := f.targetFiles()
	if got := files["team/.airflowignore"]; got != string(AirflowIgnore) || !strings.Contains(got, "spark/") || !strings.Contains(got, "ilum/") {
		t.Fatalf("team/.airflowignore:\n%q", got)
	}
	// A hand-written one is never replaced, and the push is not failed.
	dir := gittest.Clone(t, f.target)
	gittest.Commit(t, dir, "own ignore", map[string]string{"team/.airflowignore": "custom\n"})
	gittest.Run(t, dir, "git", "push", "-q", "origin", "main")
	rep := f.push("b", map[string]string{"etl.ipynb": notebook("x = 2\n", nil)})
	if _, files = f.targetFiles(); files["team/.airflowignore"] != "custom\n" || len(rep.Refused) != 0 {
		t.Fatalf("the platform team's .airflowignore: %q, refused %v", files["team/.airflowignore"], rep.Refused)
	}
}
