package server

import (
	"context"
	"fmt"
	"time"

	"github.com/nbpipe/nbpipe/preview"
	"github.com/nbpipe/nbpipe/publish"
	"github.com/nbpipe/nbpipe/webhook"
)

// PreviewContext names the commit status of a pull request preview.
const PreviewContext = "nbpipe/preview"

// runPreview is the pull request "plan": the notebooks the pull request
// changes are converted against the target branch and nothing is
// published; a commit status on the head and one comment on the pull
// request, edited in place on every new push, say what publishing would do.
// A lane's queued deliveries of one pull request coalesce into the newest.
func (s *Server) runPreview(ctx context.Context, entries []webhook.Entry) {
	last := entries[len(entries)-1].Event
	log := s.log.With("repo", last.Repo, "pull_request", last.PullRequest, "head", short(last.After))
	s.setStatusOn(ctx, last.Forge, last.Repo, last.After, PreviewContext, publish.StatePending, "previewing notebooks", "")
	p, err := s.proc.Preview(ctx, last)
	if s.failed(ctx, log, entries, PreviewContext, err) {
		return
	}
	state, desc := publish.StateSuccess, fmt.Sprintf("%d notebook(s) would convert, %d would fail", len(p.Notebooks)-p.Failed(), p.Failed())
	if p.Failed() > 0 || p.ConfigError != "" {
		state = publish.StateFailure
	}
	if c, ok := s.comment[last.Forge]; ok {
		if err := c.Upsert(ctx, last.Repo, last.PullRequest, preview.Render(p)); err != nil {
			s.failed(ctx, log, entries, PreviewContext, fmt.Errorf("preview comment: %w", err))
			return
		}
	}
	s.setStatusOn(ctx, last.Forge, last.Repo, last.After, PreviewContext, state, desc, "")
	log.Info("pull request previewed", "summary", desc)
	for _, e := range entries {
		s.appendAudit(map[string]any{"time": time.Now().UTC().Format(time.RFC3339Nano), "accepted": e.Accepted.Format(time.RFC3339Nano), "delivery": e.Event.DeliveryID,
			"forge": e.Event.Forge, "repo": e.Event.Repo, "pull_request": e.Event.PullRequest, "head": e.Event.After, "preview": p}, nil)
		s.finish(e)
	}
}
