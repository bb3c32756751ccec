package action

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/sethvargo/go-githubactions"

	"github.com/nbpipe/nbpipe/convert"
	"github.com/nbpipe/nbpipe/internal/pipeline"
	"github.com/nbpipe/nbpipe/internal/redact"
	"github.com/nbpipe/nbpipe/preview"
	"github.com/nbpipe/nbpipe/publish"
)

// pullEvent is the part of a pull_request event nbpipe reads; GitHub's and
// Gitea's payloads agree on it.
type pullEvent struct {
	Action      string `json:"action"`
	Number      int    `json:"number"`
	PullRequest *struct {
		Number int `json:"number"`
		Head   struct {
			SHA string `json:"sha"`
		} `json:"head"`
		Base struct {
			SHA string `json:"sha"`
			Ref string `json:"ref"`
		} `json:"base"`
	} `json:"pull_request"`
	Repository *struct {
		FullName string `json:"full_name"`
	} `json:"repository"`
}

// newCommenter is the forge's Commenter for the run; tests replace it.
var newCommenter = func(gitea bool, serverURL, apiURL, token string) preview.Commenter {
	if gitea {
		return preview.Gitea{URL: serverURL, Token: token}
	}
	return preview.GitHub{Token: token, BaseURL: apiURL}
}

// runPreview is the pull-request "plan": it converts the notebooks the pull
// request changes (from the merge base to its head), publishes nothing, and
// reports what publishing would do as the step summary, annotations on
// the failing notebooks, and one comment on the pull request that each new
// push edits in place. The step fails when a notebook would fail.
func runPreview(ctx context.Context, a *githubactions.Action, gh *githubactions.GitHubContext, getenv func(string) string, log *slog.Logger, red redact.Scrubber) error {
	body, err := os.ReadFile(gh.EventPath)
	if err != nil {
		return fmt.Errorf("read the event file %s: %w", gh.EventPath, err)
	}
	var ev pullEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		return fmt.Errorf("the event file %s is not a usable pull_request event: %w", gh.EventPath, err)
	}
	if ev.PullRequest == nil || ev.PullRequest.Head.SHA == "" {
		return fmt.Errorf("the event file %s is not a usable pull_request event: no pull_request head", gh.EventPath)
	}
	if ev.Action == "closed" {
		a.Infof("pull request closed: nothing to preview")
		return nil
	}
	number := ev.Number
	if number == 0 {
		number = ev.PullRequest.Number
	}
	repo := gh.Repository
	if ev.Repository != nil && ev.Repository.FullName != "" && !strings.EqualFold(ev.Repository.FullName, repo) {
		return fmt.Errorf("the event's repository %q is not the run's (%q)", ev.Repository.FullName, repo)
	}
	head, baseTip := ev.PullRequest.Head.SHA, ev.PullRequest.Base.SHA
	targetURL := a.GetInput("target-url")
	if targetURL == "" {
		return fmt.Errorf("input target-url is required")
	}
	token := a.GetInput("token")
	layer, err := inputLayer(a)
	if err != nil {
		return err
	}
	cache := filepath.Join(cacheRoot(getenv), "nbpipe")

	// The source: the repository's branches, and the pull request's head,
	// which for a pull request from a fork is only at refs/pull/N/head.
	cloneURL := strings.TrimSuffix(gh.ServerURL, "/") + "/" + repo + ".git"
	auth := publish.TokenAuth("", token)
	srcDir := filepath.Join(cache, "preview-source")
	src, err := publish.Open(ctx, cloneURL, auth, srcDir)
	if err != nil {
		return err
	}
	if number > 0 {
		if err := preview.FetchRef(ctx, srcDir, auth, preview.PullRef(number), "nbpipe-pull"); err != nil && !src.Has(head) {
			return err
		}
		if src, err = publish.Open(ctx, cloneURL, auth, srcDir); err != nil {
			return err
		}
	}
	if !src.Has(head) {
		return fmt.Errorf("%s: the pull request's head %s: %w", repo, head, publish.ErrNoCommit)
	}
	base := ""
	if baseTip != "" && src.Has(baseTip) {
		if base, err = preview.MergeBase(srcDir, baseTip, head); err != nil {
			return err
		}
	}

	branch := orDefault(a.GetInput("target-branch"), "main")
	targetDir := filepath.Join(cache, "preview-target")
	target, err := publish.Open(ctx, targetURL, publish.TokenAuth("", orDefault(a.GetInput("target-token"), token)), targetDir)
	if err != nil {
		return err
	}
	targetHead, err := target.Head(branch)
	if err != nil {
		return err
	}
	named, err := preview.NamesAt(targetDir, targetHead)
	if err != nil {
		return err
	}
	p, err := preview.Compute(ctx, src, base, head, target, preview.Options{
		Repo:             repo,
		TargetDir:        a.GetInput("target-dir"),
		TargetBranch:     branch,
		Layers:           []convert.Layer{layer},
		MaxNotebookBytes: pipeline.DefaultMaxNotebookBytes,
		Named:            named,
	})
	if err != nil {
		return err
	}
	log.Info("pull request previewed", "repo", repo, "pr", number, "base", base, "head", head, "notebooks", len(p.Notebooks), "failed", p.Failed())

	md := red.Text(preview.Render(p))
	a.SetOutput("target-commit", "")
	a.SetOutput("converted", fmt.Sprint(len(p.Notebooks)-p.Failed()))
	a.SetOutput("failed", fmt.Sprint(p.Failed()))
	a.AddStepSummary(md)
	for _, nb := range p.Notebooks {
		if len(nb.Errors) > 0 {
			a.WithFieldsMap(map[string]string{"file": nb.Path}).Errorf("%s", red.Text(nb.Path+": "+strings.Join(nb.Errors, "; ")))
		}
	}
	if a.GetInput("preview-comment") != "false" && number > 0 {
		c := newCommenter(getenv("GITEA_ACTIONS") == "true", gh.ServerURL, gh.APIURL, token)
		if err := c.Upsert(ctx, repo, number, md); err != nil {
			// A pull request from a fork gets a read-only token under
			// pull_request: say so, the preview is in the summary anyway.
			a.Warningf("%s", red.Text(fmt.Sprintf("the preview comment on #%d was not written: %v (the token needs pull-requests: write; pull requests from forks need pull_request_target)", number, err)))
		}
	}
	if p.Failed() > 0 {
		return errors.New(red.Text(fmt.Sprintf("%d notebook(s) would not convert", p.Failed())))
	}
	return nil
}
