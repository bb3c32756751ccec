package preview

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// fakeGitHub serves the documented REST calls a Commenter makes, for one
// repository's issue comments (GitHub REST "Issue comments": list with
// per_page/page and a Link header, create, update), and records them.
type fakeGitHub struct {
	mu       sync.Mutex
	comments []map[string]any
	calls    []string
	nextID   int
	me       string // "" answers GET /user with 403, as an Actions token does
	perPage  int
}

func (f *fakeGitHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	// GitHub Enterprise serves the REST API under /api/v3/, which is
	// where a client given a server URL sends it.
	path, ok := strings.CutPrefix(r.URL.Path, "/api/v3")
	if !ok {
		http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
		return
	}
	r.URL.Path = path
	f.calls = append(f.calls, r.Method+" "+r.URL.Path)
	if r.Header.Get("Authorization") != "Bearer tok-123" {
		http.Error(w, `{"message":"Bad credentials"}`, http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == "GET" && r.URL.Path == "/user":
		if f.me == "" {
			http.Error(w, `{"message":"Resource not accessible by integration"}`, http.StatusForbidden)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"login": f.me, "type": "User"})
	case r.Method == "GET" && r.URL.Path == "/repos/acme/notebooks/issues/7/comments":
		per, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
		if f.perPage > 0 {
			per = f.perPage
		}
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		if page < 1 {
			page = 1
		}
		from, to := (page-1)*per, page*per
		if to >= len(f.comments) {
			to = len(f.comments)
		} else {
			w.Header().Set("Link", fmt.Sprintf(`<http://%s/api/v3%s?page=%d&per_page=%d>; rel="next"`, r.Host, r.URL.Path, page+1, per))
		}
		if from > to {
			from = to
		}
		json.NewEncoder(w).Encode(f.comments[from:to])
	case r.Method == "POST" && r.URL.Path == "/repos/acme/notebooks/issues/7/comments":
		var in struct{ Body string }
		json.NewDecoder(r.Body).Decode(&in)
		f.nextID++
		c := map[string]any{"id": 1000 + f.nextID, "body": in.Body, "user": map[string]any{"login": "github-actions[bot]", "type": "Bot"}}
		f.comments = append(f.comments, c)
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(c)
	case r.Method == "PATCH" && strings.HasPrefix(r.URL.Path, "/repos/acme/notebooks/issues/comments/"):
		id, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/repos/acme/notebooks/issues/comments/"))
		var in struct{ Body string }
		json.NewDecoder(r.Body).Decode(&in)
		for _, c := range f.comments {
			if c["id"] == id {
				c["body"] = in.Body
				json.NewEncoder(w).Encode(c)
				return
			}
		}
		http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
	default:
		io.Copy(io.Discard, r.Body)
		http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
	}
}

func (f *fakeGitHub) take() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

func userComment(id int, login, typ, body string) map[string]any {
	return map[string]any{"id": id, "body": body, "user": map[string]any{"login": login, "type": typ}}
}

// TestGitHubCommenterContract: against a server speaking GitHub's
// documented issue-comment REST calls, the first Upsert creates one
// comment, later ones edit it in place (never a second comment), an
// unchanged body costs no write, and a comment that only quotes the marker
// or is someone else's is left alone.
func TestGitHubCommenterContract(t *testing.T) {
	f := &fakeGitHub{perPage: 2}
	// Others' comments, over more than one page: a human quoting the
	// marker, a human starting with it, another bot without it.
	f.comments = []map[string]any{
		userComment(1, "dev", "User", "looks good"),
		userComment(2, "dev", "User", "> "+Marker+"\n> quoted"),
		userComment(3, "mallory", "User", Marker+"\nnot nbpipe's"),
		userComment(4, "other[bot]", "Bot", "coverage 80%"),
	}
	srv := httptest.NewServer(f)
	defer srv.Close()
	c := GitHub{Token: "tok-123", BaseURL: srv.URL}
	ctx := context.Background()

	if err := c.Upsert(ctx, "acme/notebooks", 7, "first"); err != nil {
		t.Fatal(err)
	}
	calls := f.take()
	want := []string{"GET /user", "GET /repos/acme/notebooks/issues/7/comments", "GET /repos/acme/notebooks/issues/7/comments", "POST /repos/acme/notebooks/issues/7/comments"}
	if strings.Join(calls, "\n") != strings.Join(want, "\n") {
		t.Fatalf("first upsert calls:\n%s\nwant\n%s", strings.Join(calls, "\n"), strings.Join(want, "\n"))
	}
	if len(f.comments) != 5 || f.comments[4]["body"] != Marker+"\nfirst" {
		t.Fatalf("comments after the first upsert: %v", f.comments)
	}

	for _, body := range []string{"second", "third"} {
		if err := c.Upsert(ctx, "acme/notebooks", 7, body); err != nil {
			t.Fatal(err)
		}
		calls = f.take()
		if last := calls[len(calls)-1]; last != "PATCH /repos/acme/notebooks/issues/comments/1001" {
			t.Fatalf("upsert %q: calls %v, want an edit of comment 1001", body, calls)
		}
	}
	if len(f.comments) != 5 || f.comments[4]["body"] != Marker+"\nthird" {
		t.Fatalf("comments after three upserts (want one of nbpipe's, edited): %v", f.comments)
	}
	for _, c := range f.comments[:4] {
		if b := c["body"].(string); strings.Contains(b, "third") {
			t.Fatalf("someone else's comment was edited: %v", c)
		}
	}

	// The same body again: nothing written.
	if err := c.Upsert(ctx, "acme/notebooks", 7, Marker+"\nthird"); err != nil {
		t.Fatal(err)
	}
	for _, call := range f.take() {
		if !strings.HasPrefix(call, "GET ") {
			t.Fatalf("an unchanged body was written: %s", call)
		}
	}

	// With a token that can read /user (a PAT or an App acting as a user),
	// that account's comment is the one, whatever its type.
	f2 := &fakeGitHub{me: "nbpipe-bot", comments: []map[string]any{
		userComment(5, "dev", "User", Marker+"\nnot ours"),
		userComment(6, "nbpipe-bot", "User", Marker+"\nold"),
	}}
	srv2 := httptest.NewServer(f2)
	defer srv2.Close()
	if err := (GitHub{Token: "tok-123", BaseURL: srv2.URL + "/api/v3"}).Upsert(ctx, "acme/notebooks", 7, "new"); err != nil {
		t.Fatal(err)
	}
	if f2.comments[1]["body"] != Marker+"\nnew" || f2.comments[0]["body"] != Marker+"\nnot ours" || len(f2.comments) != 2 {
		t.Fatalf("with a known login: %v", f2.comments)
	}

	// A GitHub App: each call gets the repository's installation token,
	// which cannot read /user, so the App's bot comment is the one.
	var asked []string
	app := GitHub{BaseURL: srv.URL, TokenFor: func(_ context.Context, repo string) (string, error) {
		asked = append(asked, repo)
		return "tok-123", nil
	}}
	if err := app.Upsert(ctx, "acme/notebooks", 7, "from the app"); err != nil {
		t.Fatal(err)
	}
	if len(asked) != 1 || asked[0] != "acme/notebooks" || len(f.comments) != 5 || f.comments[4]["body"] != Marker+"\nfrom the app" {
		t.Fatalf("App token asked for %v; comments %v", asked, f.comments)
	}
	app.TokenFor = func(context.Context, string) (string, error) { return "", fmt.Errorf("installation not found") }
	if err := app.Upsert(ctx, "acme/notebooks", 7, "x"); err == nil || !strings.Contains(err.Error(), "installation not found") {
		t.Fatalf("a failed App token: %v", err)
	}

	// Errors say what failed.
	err := (GitHub{Token: "wrong", BaseURL: srv.URL}).Upsert(ctx, "acme/notebooks", 7, "x")
	if err == nil || !strings.Contains(err.Error(), "acme/notebooks#7") {
		t.Fatalf("bad credentials: %v", err)
	}
	if err := c.Upsert(ctx, "not-a-repo", 7, "x"); err == nil {
		t.Fatal("a repository that is not owner/name was accepted")
	}
}
