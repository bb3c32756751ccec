package preview

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"code.gitea.io/sdk/gitea"
	"github.com/google/go-github/v75/github"
)

// Commenter keeps nbpipe's one preview comment on a pull request: Upsert
// edits the comment that starts with Marker, or creates it when there is
// none, so each new push updates the same comment in place.
type Commenter interface {
	Upsert(ctx context.Context, repo string, pr int, body string) error
}

// withMarker makes the body start with the marker that finds it again.
func withMarker(body string) string {
	if strings.HasPrefix(body, Marker) {
		return body
	}
	return Marker + "\n" + body
}

// ours reports whether a comment is nbpipe's preview: its body starts with
// the marker (a comment quoting it does not) and its author is the one
// nbpipe comments as. login is that account when known; when it is not (a
// GitHub Actions token cannot read /user), any bot account's comment with
// the marker is taken.
func ours(body, author, authorType, login string) bool {
	if !strings.HasPrefix(strings.TrimLeft(body, " \t\r\n"), Marker) {
		return false
	}
	if login != "" {
		return strings.EqualFold(author, login)
	}
	return authorType == "Bot"
}

// maxPages bounds the comment pages read: 100 pages of 50 to 100.
const maxPages = 100

func splitRepo(repo string) (string, string, error) {
	owner, name, ok := strings.Cut(repo, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return "", "", fmt.Errorf("repository %q is not owner/name", repo)
	}
	return owner, name, nil
}

// GitHub comments through GitHub's REST API (go-github): the pull request's
// issue comments are listed (GET /repos/{owner}/{repo}/issues/{n}/comments,
// every page), nbpipe's is edited (PATCH
// /repos/{owner}/{repo}/issues/comments/{id}) or created (POST
// /repos/{owner}/{repo}/issues/{n}/comments). The token needs
// pull-requests: write (or issues: write).
type GitHub struct {
	Token string
	// TokenFor supplies a token per repository instead of Token (a GitHub
	// App's installation token, whose comments are the App's bot's).
	TokenFor func(ctx context.Context, repo string) (string, error)
	// BaseURL is the API for GitHub Enterprise and tests: an API root
	// (an Actions run's GITHUB_API_URL) or a server URL, to which
	// /api/v3/ is added as go-github's WithEnterpriseURLs does; "" is
	// api.github.com.
	BaseURL string
	// Login is the account nbpipe comments as; "" asks GET /user, and when
	// the token cannot (an Actions GITHUB_TOKEN), comments by bots count.
	Login string
	HTTP  *http.Client
}

func (g GitHub) client(ctx context.Context, repo string) (*github.Client, error) {
	token := g.Token
	if g.TokenFor != nil {
		var err error
		if token, err = g.TokenFor(ctx, repo); err != nil {
			return nil, fmt.Errorf("github: a token for %s: %w", repo, err)
		}
	}
	c := github.NewClient(g.HTTP).WithAuthToken(token)
	if g.BaseURL != "" {
		// As publish.GitHubStatus reads the same setting: an API root
		// (https://api.github.com, https://HOST/api/v3, an Actions run's
		// GITHUB_API_URL) is used as it is; a bare GitHub Enterprise
		// server URL gets /api/v3/.
		var err error
		if c, err = c.WithEnterpriseURLs(g.BaseURL, g.BaseURL); err != nil {
			return nil, fmt.Errorf("github: API URL: %w", err)
		}
	}
	return c, nil
}

// Upsert implements Commenter.
func (g GitHub) Upsert(ctx context.Context, repo string, pr int, body string) error {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return err
	}
	body = withMarker(body)
	c, err := g.client(ctx, repo)
	if err != nil {
		return err
	}
	login := g.Login
	if login == "" {
		if u, _, err := c.Users.Get(ctx, ""); err == nil {
			login = u.GetLogin()
		} else if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	opt := &github.IssueListCommentsOptions{ListOptions: github.ListOptions{PerPage: 100}}
	for range maxPages {
		comments, resp, err := c.Issues.ListComments(ctx, owner, name, pr, opt)
		if err != nil {
			return fmt.Errorf("github: list the comments of %s#%d: %w", repo, pr, err)
		}
		for _, cm := range comments {
			if !ours(cm.GetBody(), cm.GetUser().GetLogin(), cm.GetUser().GetType(), login) {
				continue
			}
			if cm.GetBody() == body {
				return nil
			}
			if _, _, err := c.Issues.EditComment(ctx, owner, name, cm.GetID(), &github.IssueComment{Body: github.Ptr(body)}); err != nil {
				return fmt.Errorf("github: edit comment %d on %s#%d: %w", cm.GetID(), repo, pr, err)
			}
			return nil
		}
		if resp == nil || resp.NextPage == 0 {
			break
		}
		opt.Page = resp.NextPage
	}
	if _, _, err := c.Issues.CreateComment(ctx, owner, name, pr, &github.IssueComment{Body: github.Ptr(body)}); err != nil {
		return fmt.Errorf("github: comment on %s#%d: %w", repo, pr, err)
	}
	return nil
}

// Gitea comments through Gitea's API with the official SDK: list the
// pull request's issue comments (GET /repos/{owner}/{repo}/issues/{n}/comments,
// every page), edit nbpipe's (PATCH /repos/{owner}/{repo}/issues/comments/{id})
// or create it (POST /repos/{owner}/{repo}/issues/{n}/comments). The token's
// own account (GET /user) is the author looked for.
type Gitea struct {
	URL, Token string
	HTTP       *http.Client
}

// Upsert implements Commenter.
func (g Gitea) Upsert(ctx context.Context, repo string, pr int, body string) error {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return err
	}
	body = withMarker(body)
	opts := []gitea.ClientOption{gitea.SetToken(g.Token), gitea.SetContext(ctx), gitea.SetGiteaVersion("")}
	if g.HTTP != nil {
		opts = append(opts, gitea.SetHTTPClient(g.HTTP))
	}
	c, err := gitea.NewClient(strings.TrimSuffix(g.URL, "/"), opts...)
	if err != nil {
		return fmt.Errorf("gitea: %w", err)
	}
	me, _, err := c.GetMyUserInfo()
	if err != nil {
		return fmt.Errorf("gitea: who the token belongs to: %w", err)
	}
	// Gitea answers this list with every comment at once (it takes since
	// and before, not pages); pages are asked for all the same, and the
	// loop ends on a page that brings nothing new.
	seen := map[int64]bool{}
	for page := 1; page <= maxPages; page++ {
		comments, _, err := c.ListIssueComments(owner, name, int64(pr), gitea.ListIssueCommentOptions{ListOptions: gitea.ListOptions{Page: page, PageSize: 50}})
		if err != nil {
			return fmt.Errorf("gitea: list the comments of %s#%d: %w", repo, pr, err)
		}
		fresh := 0
		for _, cm := range comments {
			if seen[cm.ID] {
				continue
			}
			seen[cm.ID] = true
			fresh++
			author := ""
			if cm.Poster != nil {
				author = cm.Poster.UserName
			}
			if !ours(cm.Body, author, "", me.UserName) {
				continue
			}
			if cm.Body == body {
				return nil
			}
			if _, _, err := c.EditIssueComment(owner, name, cm.ID, gitea.EditIssueCommentOption{Body: body}); err != nil {
				return fmt.Errorf("gitea: edit comment %d on %s#%d: %w", cm.ID, repo, pr, err)
			}
			return nil
		}
		if fresh == 0 || len(comments) < 50 {
			break
		}
	}
	if _, _, err := c.CreateIssueComment(owner, name, int64(pr), gitea.CreateIssueCommentOption{Body: body}); err != nil {
		return fmt.Errorf("gitea: comment on %s#%d: %w", repo, pr, err)
	}
	return nil
}
