// Command serve measures the webhook server for `make bench`:
//
//   - intake: ack latency (p50, p99) of signed push deliveries sent at a
//     fixed rate (default 200/s) to the real handler with the durable spool;
//   - publish: time from a processed push to the pushed commit for a
//     one-notebook change on a target repository of 20,000 files and 10,000
//     commits (warm cache), against the git CLI doing the same change.
//
// It prints one JSON line per measurement.
package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nbpipe/nbpipe/publish"
	"github.com/nbpipe/nbpipe/webhook"
)

func main() {
	rate := flag.Int("rate", 200, "deliveries per second")
	seconds := flag.Int("seconds", 10, "how long to send")
	files := flag.Int("files", 20000, "files in the target repository")
	commits := flag.Int("commits", 10000, "commits in the target repository")
	runs := flag.Int("runs", 5, "publish runs (best and median reported)")
	flag.Parse()
	if err := intake(*rate, *seconds); err != nil {
		fmt.Fprintln(os.Stderr, "intake:", err)
		os.Exit(1)
	}
	if err := publishBench(*files, *commits, *runs); err != nil {
		fmt.Fprintln(os.Stderr, "publish:", err)
		os.Exit(1)
	}
}

func intake(rate, seconds int) error {
	dir, err := os.MkdirTemp("", "nbpipe-intake-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	sp, err := webhook.OpenSpool(dir)
	if err != nil {
		return err
	}
	secret := []byte("bench-secret")
	h := &webhook.Handler{Secrets: map[webhook.Forge][]byte{webhook.Gitea: secret}, Intake: sp, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	srv := httptest.NewServer(h)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	n := rate * seconds
	lat := make([]time.Duration, n)
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	errs := make(chan error, n)
	start := time.Now()
	for i := 0; i < n; i++ {
		<-tick.C
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			body, _ := json.Marshal(map[string]any{"ref": "refs/heads/main", "before": strings.Repeat("a", 40), "after": fmt.Sprintf("%040x", i+1),
				"repository": map[string]any{"full_name": "team/notebooks"}, "sender": map[string]any{"login": "dev"}})
			mac := hmac.New(sha256.New, secret)
			mac.Write(body)
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/webhook", bytes.NewReader(body))
			req.Header.Set("X-Gitea-Event", "push")
			req.Header.Set("X-Gitea-Delivery", fmt.Sprintf("d-%d", i))
			req.Header.Set("X-Gitea-Signature", hex.EncodeToString(mac.Sum(nil)))
			t0 := time.Now()
			resp, err := client.Do(req)
			lat[i] = time.Since(t0)
			if err != nil {
				errs <- err
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				errs <- fmt.Errorf("delivery %d: status %d", i, resp.StatusCode)
			}
		}(i)
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	for err := range errs {
		return err
	}
	pending, err := sp.Pending()
	if err != nil || len(pending) != n {
		return fmt.Errorf("spool holds %d of %d deliveries (%v)", len(pending), n, err)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	q := func(p float64) float64 { return float64(lat[int(p*float64(n-1))].Microseconds()) / 1000 }
	return printJSON(map[string]any{"bench": "intake", "deliveries": n, "rate_per_s": rate, "achieved_per_s": float64(n) / elapsed.Seconds(),
		"p50_ms": q(0.50), "p99_ms": q(0.99), "max_ms": q(1), "durable": "fsync before 2xx"})
}

func printJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	fmt.Println(string(b))
	return nil
}

func git(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=b", "GIT_AUTHOR_EMAIL=b@x", "GIT_COMMITTER_NAME=b", "GIT_COMMITTER_EMAIL=b@x")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("git %v: %v: %s", args, err, out)
	}
	return string(out), nil
}

// bigRepo builds a bare repository with files files and commits commits via
// git fast-import, then serves it over smart HTTP.
func bigRepo(root string, files, commits int) (string, error) {
	bare := filepath.Join(root, "dags.git")
	if _, err := git(root, "init", "-q", "--bare", "--initial-branch=main", bare); err != nil {
		return "", err
	}
	if _, err := git(bare, "config", "http.receivepack", "true"); err != nil {
		return "", err
	}
	var stream bytes.Buffer
	for c := 0; c < commits; c++ {
		fmt.Fprintf(&stream, "commit refs/heads/main\ncommitter b <b@x> %d +0000\ndata 9\ncommit %02d\n", 1700000000+c, c%100)
		for f := c * files / commits; f < (c+1)*files/commits; f++ {
			content := fmt.Sprintf("# nbpipe-owned: true\n# file %d\nx = %d\n", f, f)
			fmt.Fprintf(&stream, "M 644 inline dags/d%03d/f%05d.py\ndata %d\n%s\n", f%200, f, len(content), content)
		}
	}
	cmd := exec.Command("git", "fast-import", "--quiet")
	cmd.Dir = bare
	cmd.Stdin = &stream
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("fast-import: %v: %s", err, out)
	}
	return bare, nil
}

func publishBench(files, commits, runs int) error {
	root, err := os.MkdirTemp("", "nbpipe-publish-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	if _, err := bigRepo(root, files, commits); err != nil {
		return err
	}
	gitPath, _ := exec.LookPath("git")
	srv := httptest.NewServer(&cgi.Handler{Path: gitPath, Args: []string{"http-backend"}, Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"}})
	defer srv.Close()
	url := srv.URL + "/dags.git"
	ctx := context.Background()

	// nbpipe, warm: the cached clone exists.
	repo, err := publish.Open(ctx, url, nil, filepath.Join(root, "cache"))
	if err != nil {
		return err
	}
	var nb []time.Duration
	for i := 0; i < runs; i++ {
		content := []byte(fmt.Sprintf("# nbpipe-owned: true\n# nbpipe run %d\n", i))
		plan := func(*publish.Tree) ([]publish.FileChange, error) {
			return []publish.FileChange{{Path: "dags/d007/etl.py", Content: content}}, nil
		}
		t0 := time.Now()
		if err := repo.Fetch(ctx); err != nil { // a push arrives: fetch, then publish
			return err
		}
		res, err := repo.Publish(ctx, "main", plan, publish.CommitMessage("bench", "", "team/notebooks", fmt.Sprint(i)), publish.Author{Name: "b", Email: "b@x"})
		if err != nil || res.Commit == "" {
			return fmt.Errorf("publish: %+v %v", res, err)
		}
		nb = append(nb, time.Since(t0))
	}

	// The git CLI doing the same with a warm work tree.
	work := filepath.Join(root, "work")
	if _, err := git(root, "clone", "-q", url, work); err != nil {
		return err
	}
	var cli []time.Duration
	for i := 0; i < runs; i++ {
		t0 := time.Now()
		if _, err := git(work, "pull", "-q", "--ff-only", "origin", "main"); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(work, "dags/d007/etl.py"), []byte(fmt.Sprintf("# nbpipe-owned: true\n# cli run %d\n", i)), 0o644); err != nil {
			return err
		}
		if _, err := git(work, "add", "dags/d007/etl.py"); err != nil {
			return err
		}
		if _, err := git(work, "commit", "-q", "-m", "bench"); err != nil {
			return err
		}
		if _, err := git(work, "push", "-q", "origin", "main"); err != nil {
			return err
		}
		cli = append(cli, time.Since(t0))
	}
	med := func(d []time.Duration) float64 {
		s := append([]time.Duration{}, d...)
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		return float64(s[len(s)/2].Microseconds()) / 1000
	}
	return printJSON(map[string]any{"bench": "publish", "target_files": files, "target_commits": commits, "runs": runs,
		"nbpipe_median_ms": med(nb), "git_cli_median_ms": med(cli), "ratio_git_over_nbpipe": med(cli) / med(nb)})
}
