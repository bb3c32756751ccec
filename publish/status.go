package publish

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"code.gitea.io/sdk/gitea"
	"github.com/google/go-github/v75/github"
)

// State is a commit status state both forges understand.
type State string

const (
	StatePending State = "pending"
	StateSuccess State = "success"
	StateFailure State = "failure"
	StateError   State = "error"
)

// StatusContext names nbpipe's status on a commit.
const StatusContext = "nbpipe"

// Status is what nbpipe reports on a source commit.
type Status struct {
	Repo        string // owner/name
	Commit      string
	State       State
	Description string // one line; forges cap it (GitHub at 140 characters)
	TargetURL   string // a link to the target commit, where there is one
	// Context names the status; "" is StatusContext. Each triggered DAG
	// has its own (nbpipe/airflow/<dag_id>), so runs show beside the publish.
	Context string
}

func (s Status) context() string {
	if s.Context == "" {
		return StatusContext
	}
	return s.Context
}

// StatusReporter sets commit statuses on a forge.
type StatusReporter interface {
	SetStatus(ctx context.Context, s Status) error
}

func splitRepo(repo string) (string, string, error) {
	owner, name, ok := strings.Cut(repo, "/")
	if !ok || owner == "" || name == "" {
		return "", "", fmt.Errorf("repository %q is not owner/name", repo)
	}
	return owner, name, nil
}

func clipDescription(s string) string {
	if r := []rune(s); len(r) > 140 {
		return string(r[:139]) + "…"
	}
	return s
}

// GiteaStatus reports through Gitea's API with the official SDK.
type GiteaStatus struct {
	URL, Token string
	HTTP       *http.Client
}

func (g GiteaStatus) SetStatus(ctx context.Context, s Status) error {
	owner, name, err := splitRepo(s.Repo)
	if err != nil {
		return err
	}
	opts := []gitea.ClientOption{gitea.SetToken(g.Token), gitea.SetContext(ctx), gitea.SetGiteaVersion("")}
	if g.HTTP != nil {
		opts = append(opts, gitea.SetHTTPClient(g.HTTP))
	}
	c, err := gitea.NewClient(g.URL, opts...)
	if err != nil {
		return fmt.Errorf("gitea status: %w", err)
	}
	_, _, err = c.CreateStatus(owner, name, s.Commit, gitea.CreateStatusOption{
		State:       gitea.StatusState(s.State),
		TargetURL:   s.TargetURL,
		Description: clipDescription(s.Description),
		Context:     s.context(),
	})
	if err != nil {
		return fmt.Errorf("gitea status on %s@%s: %w", s.Repo, short(s.Commit), err)
	}
	return nil
}

// GitHubStatus reports through GitHub's API with go-github. BaseURL is for
// GitHub Enterprise (and tests); empty means api.github.com.
type GitHubStatus struct {
	Token, BaseURL string
	// TokenFor supplies a token per repository instead of Token (a GitHub
	// App's installation token).
	TokenFor func(ctx context.Context, repo string) (string, error)
	HTTP     *http.Client
}

func (g GitHubStatus) SetStatus(ctx context.Context, s Status) error {
	owner, name, err := splitRepo(s.Repo)
	if err != nil {
		return err
	}
	token := g.Token
	if g.TokenFor != nil {
		if token, err = g.TokenFor(ctx, s.Repo); err != nil {
			return fmt.Errorf("github status on %s@%s: %w", s.Repo, short(s.Commit), err)
		}
	}
	c := github.NewClient(g.HTTP).WithAuthToken(token)
	if g.BaseURL != "" {
		if c, err = c.WithEnterpriseURLs(g.BaseURL, g.BaseURL); err != nil {
			return err
		}
	}
	st := &github.RepoStatus{
		State:       github.Ptr(string(s.State)),
		Description: github.Ptr(clipDescription(s.Description)),
		Context:     github.Ptr(s.context()),
	}
	if s.TargetURL != "" {
		st.TargetURL = github.Ptr(s.TargetURL)
	}
	if _, _, err := c.Repositories.CreateStatus(ctx, owner, name, s.Commit, st); err != nil {
		return fmt.Errorf("github status on %s@%s: %w", s.Repo, short(s.Commit), err)
	}
	return nil
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}
