package publish

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/nbpipe/nbpipe/internal/gittest"
)

// The remote in these tests is a real smart-HTTP git server (gittest).

func isNotebook(p string) bool { return strings.HasSuffix(p, ".ipynb") }

func TestChangesBetweenCommits(t *testing.T) {
	srv := gittest.NewServer(t)
	url := srv.Repo(t, "notebooks")
	work := gittest.Clone(t, url)
	first := gittest.Commit(t, work, "one", map[string]string{"a.ipynb": "{}", "dir/b.ipynb": "{\"b\":1}", "notes.txt": "x"})
	second := gittest.Commit(t, work, "two", map[string]string{"a.ipynb": "{\"a\":2}", "notes.txt": "y", "new.ipynb": "{}"})
	gittest.Run(t, work, "git", "mv", "dir/b.ipynb", "dir/c.ipynb")
	third := gittest.Commit(t, work, "rename", map[string]string{"gone.ipynb": "{}"})
	gittest.Run(t, work, "git", "push", "-q", "origin", "main")

	ctx := context.Background()
	r, err := Open(ctx, url, nil, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, before, after string
		want                string
	}{
		{"new branch: every notebook", ZeroSHA, first, "added a.ipynb, added dir/b.ipynb"},
		{"modify and add", first, second, "modified a.ipynb, added new.ipynb"},
		{"rename is remove and add", second, third, "removed dir/b.ipynb, added dir/c.ipynb, added gone.ipynb"},
		{"across several commits", first, third, "modified a.ipynb, removed dir/b.ipynb, added dir/c.ipynb, added gone.ipynb, added new.ipynb"},
		{"backwards (a forced push)", third, first, "modified a.ipynb, added dir/b.ipynb, removed dir/c.ipynb, removed gone.ipynb, removed new.ipynb"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			changes, err := r.Changes(ctx, tc.before, tc.after, isNotebook)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range changes {
				got = append(got, string(c.Kind)+" "+c.Path)
			}
			if strings.Join(got, ", ") != tc.want {
				t.Fatalf("got  %s\nwant %s", strings.Join(got, ", "), tc.want)
			}
		})
	}
	data, ok, err := r.ReadFile(second, "a.ipynb")
	if err != nil || !ok || string(data) != `{"a":2}` {
		t.Fatalf("ReadFile = %q %v %v", data, ok, err)
	}
	if _, ok, _ := r.ReadFile(first, "missing.ipynb"); ok {
		t.Fatal("ReadFile found a missing file")
	}
	for n, want := range map[int64]string{0: "", 3: `{"a`, 100: `{"a":2}`} {
		if data, ok, err := r.ReadPrefix(second, "a.ipynb", n); err != nil || !ok || string(data) != want {
			t.Errorf("ReadPrefix(%d) = %q %v %v, want %q", n, data, ok, err, want)
		}
	}
	if _, ok, _ := r.ReadPrefix(first, "missing.ipynb", 10); ok {
		t.Fatal("ReadPrefix found a missing file")
	}
}

// ZeroSHA is a new branch's before.
const ZeroSHA = "0000000000000000000000000000000000000000"

const owned = "# nbpipe-owned: true\n"

func writePlan(files map[string]string) Plan {
	return func(*Tree) ([]FileChange, error) {
		var out []FileChange
		for p, c := range files {
			fc := FileChange{Path: p}
			if c != "" {
				fc.Content = []byte(c)
			}
			out = append(out, fc)
		}
		return out, nil
	}
}

func TestPublishCommitTrailersOwnershipAndNoops(t *testing.T) {
	srv := gittest.NewServer(t)
	url := srv.Repo(t, "dags")
	ctx := context.Background()
	r, err := Open(ctx, url, nil, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	author := Author{Name: "nbpipe", Email: "nbpipe@localhost"}
	msg := CommitMessage("nbpipe: etl from team/notebooks@abc", "converted: etl.ipynb", "team/notebooks", "abc123")
	res, err := r.Publish(ctx, "main", writePlan(map[string]string{"dags/etl.py": owned + "x = 1\n", "spark/etl.py": owned + "y = 1\n"}), msg, author)
	if err != nil || res.Commit == "" {
		t.Fatalf("first publish: %+v %v", res, err)
	}
	check := gittest.Clone(t, url)
	log := gittest.Run(t, check, "git", "log", "-1", "--format=%B")
	for _, want := range []string{"Source-Repo: team/notebooks", "Source-Commit: abc123"} {
		if !strings.Contains(log, want) {
			t.Fatalf("commit message lacks %q:\n%s", want, log)
		}
	}
	if got := gittest.Run(t, check, "git", "show", "HEAD:dags/etl.py"); got != owned+"x = 1\n" {
		t.Fatalf("dags/etl.py = %q", got)
	}
	gittest.Run(t, check, "git", "fsck", "--strict")

	// The same content again: no commit.
	res, err = r.Publish(ctx, "main", writePlan(map[string]string{"dags/etl.py": owned + "x = 1\n"}), msg, author)
	if err != nil || res.Commit != "" {
		t.Fatalf("unchanged publish made a commit: %+v %v", res, err)
	}

	// A hand-written file is never overwritten or deleted.
	gittest.Commit(t, check, "by hand", map[string]string{"dags/manual.py": "# my own DAG\n"})
	gittest.Run(t, check, "git", "push", "-q", "origin", "main")
	res, err = r.Publish(ctx, "main", writePlan(map[string]string{"dags/manual.py": owned + "z = 1\n", "dags/etl.py": ""}), msg, author)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Refused) != 1 || res.Refused[0] != "dags/manual.py" || res.Commit == "" || res.Tries != 2 {
		t.Fatalf("want dags/manual.py refused and etl.py deleted after one refetch: %+v", res)
	}
	gittest.Run(t, check, "git", "pull", "-q", "origin", "main")
	if got := gittest.Run(t, check, "git", "show", "HEAD:dags/manual.py"); got != "# my own DAG\n" {
		t.Fatalf("hand-written file changed: %q", got)
	}
	if _, err := os.Stat(filepath.Join(check, "dags", "etl.py")); !os.IsNotExist(err) {
		t.Fatalf("dags/etl.py not deleted: %v", err)
	}
	if _, err := os.Stat(filepath.Join(check, "spark", "etl.py")); err != nil {
		t.Fatalf("spark/etl.py lost: %v", err)
	}
	gittest.Run(t, check, "git", "fsck", "--strict")
}

// TestPublishWithConcurrentForeignWriter pushes from the git CLI while
// nbpipe publishes to the same branch: every commit of both must land, and
// nbpipe never forces.
func TestPublishWithConcurrentForeignWriter(t *testing.T) {
	srv := gittest.NewServer(t)
	url := srv.Repo(t, "dags")
	seed := gittest.Clone(t, url)
	gittest.Commit(t, seed, "start", map[string]string{"README": "dags\n"})
	gittest.Run(t, seed, "git", "push", "-q", "origin", "main")

	ctx := context.Background()
	r, err := Open(ctx, url, nil, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const rounds = 12
	var wg sync.WaitGroup
	wg.Add(1)
	errs := make(chan error, rounds)
	started := make(chan struct{})
	go func() { // the foreign writer
		defer wg.Done()
		work := gittest.Clone(t, url)
		for i := 0; i < rounds; i++ {
			if i == 1 {
				close(started) // nbpipe starts once the writer is pushing
			}
			gittest.Commit(t, work, fmt.Sprintf("foreign %d", i), map[string]string{fmt.Sprintf("foreign/%d.txt", i): "x\n"})
			for try := 0; ; try++ {
				if out, err := gittest.Cmd(work, "git", "push", "-q", "origin", "main").CombinedOutput(); err == nil {
					break
				} else if try > 20 {
					errs <- fmt.Errorf("foreign push: %v: %s", err, out)
					return
				}
				if out, err := gittest.Cmd(work, "git", "pull", "-q", "--rebase", "origin", "main").CombinedOutput(); err != nil {
					errs <- fmt.Errorf("foreign pull: %v: %s", err, out)
					return
				}
			}
		}
	}()
	select {
	case <-started:
	case err := <-errs:
		t.Fatal(err)
	}
	totalTries := 0
	for i := 0; i < rounds; i++ {
		msg := CommitMessage(fmt.Sprintf("nbpipe %d", i), "", "team/notebooks", fmt.Sprintf("src%d", i))
		res, err := r.Publish(ctx, "main", writePlan(map[string]string{fmt.Sprintf("dags/nb%d.py", i): owned}), msg, Author{Name: "nbpipe", Email: "n@x"})
		if err != nil || res.Commit == "" {
			t.Fatalf("publish %d: %+v %v", i, res, err)
		}
		totalTries += res.Tries
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	check := gittest.Clone(t, url)
	log := gittest.Run(t, check, "git", "log", "--format=%s", "main")
	for i := 0; i < rounds; i++ {
		for _, want := range []string{fmt.Sprintf("nbpipe %d", i), fmt.Sprintf("foreign %d", i)} {
			if !strings.Contains(log, want+"\n") {
				t.Fatalf("commit %q missing from the branch:\n%s", want, log)
			}
		}
		for _, f := range []string{fmt.Sprintf("dags/nb%d.py", i), fmt.Sprintf("foreign/%d.txt", i)} {
			if _, err := os.Stat(filepath.Join(check, f)); err != nil {
				t.Fatalf("%s missing: %v", f, err)
			}
		}
	}
	gittest.Run(t, check, "git", "fsck", "--strict")
	t.Logf("%d nbpipe publishes took %d tries against a concurrent writer", rounds, totalTries)
}
