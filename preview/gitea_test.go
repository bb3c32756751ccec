package preview_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nbpipe/nbpipe/internal/gittest"
	"github.com/nbpipe/nbpipe/preview"
)

// TestGiteaCommenterOnRealGitea: the Gitea commenter against a real Gitea
// (scripts/gitea.sh builds it from the Go module proxy): on a real pull
// request the first Upsert creates the comment, the next ones edit it, and
// another user's comment that starts with the marker is left alone.
func TestGiteaCommenterOnRealGitea(t *testing.T) {
	if os.Getenv("NBPIPE_E2E") == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("NBPIPE_E2E is not set in CI: make test sets it")
		}
		t.Skip("set NBPIPE_E2E=1 (make test does) to build and run a real Gitea")
	}
	script := filepath.Join("..", "scripts", "gitea.sh")
	dir := t.TempDir()
	out, err := exec.Command("bash", script, "start", dir).Output()
	if err != nil {
		logs, _ := os.ReadFile(filepath.Join(dir, "gitea.log"))
		t.Fatalf("gitea.sh start: %v\n%s", err, logs)
	}
	t.Cleanup(func() { _ = exec.Command("bash", script, "stop", dir).Run() })
	var g struct{ URL, User, Password, Token string }
	if err := json.Unmarshal(bytes.TrimSpace(out), &g); err != nil {
		t.Fatalf("gitea.sh start printed %q: %v", out, err)
	}
	g.URL = strings.TrimSuffix(g.URL, "/")
	api := func(method, path, token string, body any, want int) []byte {
		t.Helper()
		var rd io.Reader
		if body != nil {
			data, _ := json.Marshal(body)
			rd = bytes.NewReader(data)
		}
		req, _ := http.NewRequest(method, g.URL+"/api/v1"+path, rd)
		req.Header.Set("Authorization", "token "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, data)
		}
		return data
	}
	api("POST", "/user/repos", g.Token, map[string]any{"name": "notebooks", "auto_init": true, "default_branch": "main"}, 201)
	work := gittest.Clone(t, strings.Replace(g.URL, "://", "://"+g.User+":"+g.Token+"@", 1)+"/"+g.User+"/notebooks.git")
	gittest.Run(t, work, "git", "checkout", "-q", "-b", "feature")
	gittest.Commit(t, work, "a notebook", map[string]string{"etl.ipynb": nb("x = 1")})
	gittest.Run(t, work, "git", "push", "-q", "origin", "feature")
	var pr struct{ Number int }
	if err := json.Unmarshal(api("POST", "/repos/"+g.User+"/notebooks/pulls", g.Token, map[string]any{"head": "feature", "base": "main", "title": "etl"}, 201), &pr); err != nil || pr.Number == 0 {
		t.Fatalf("pull request: %v %+v", err, pr)
	}

	// Another user comments first, starting with the marker.
	api("POST", "/admin/users", g.Token, map[string]any{"username": "dev", "password": "dev-pass-12345", "email": "dev@example.com", "must_change_password": false}, 201)
	req, _ := http.NewRequest("POST", g.URL+"/api/v1/users/dev/tokens", strings.NewReader(`{"name":"t","scopes":["all"]}`))
	req.SetBasicAuth("dev", "dev-pass-12345")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var devTok struct{ Sha1 string }
	json.NewDecoder(resp.Body).Decode(&devTok)
	resp.Body.Close()
	if devTok.Sha1 == "" {
		t.Fatalf("no token for dev: %d", resp.StatusCode)
	}
	repo := g.User + "/notebooks"
	api("POST", fmt.Sprintf("/repos/%s/issues/%d/comments", repo, pr.Number), devTok.Sha1, map[string]any{"body": preview.Marker + "\nnot nbpipe's"}, 201)

	c := preview.Gitea{URL: g.URL, Token: g.Token}
	ctx := context.Background()
	for _, body := range []string{"first", "second", "third"} {
		if err := c.Upsert(ctx, repo, pr.Number, body); err != nil {
			t.Fatalf("upsert %q: %v", body, err)
		}
	}
	var comments []struct {
		ID   int64
		Body string
		User struct{ Login string }
	}
	if err := json.Unmarshal(api("GET", fmt.Sprintf("/repos/%s/issues/%d/comments", repo, pr.Number), g.Token, nil, 200), &comments); err != nil {
		t.Fatal(err)
	}
	var mine []string
	for _, cm := range comments {
		switch cm.User.Login {
		case g.User:
			mine = append(mine, cm.Body)
		case "dev":
			if cm.Body != preview.Marker+"\nnot nbpipe's" {
				t.Errorf("dev's comment was changed: %q", cm.Body)
			}
		}
	}
	if len(mine) != 1 || mine[0] != preview.Marker+"\nthird" {
		t.Fatalf("nbpipe's comments after three upserts (want one, edited): %q", mine)
	}

	// A token that cannot see the repository is an error naming it.
	if err := (preview.Gitea{URL: g.URL, Token: "bad"}).Upsert(ctx, repo, pr.Number, "x"); err == nil || !strings.Contains(err.Error(), "gitea") {
		t.Fatalf("a bad token: %v", err)
	}
}
