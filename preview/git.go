package preview

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/nbpipe/nbpipe/internal/redact"
)

// PullRef is where GitHub and Gitea keep a pull request's head, also for a
// pull request from a fork (whose branch is not in the repository).
func PullRef(pr int) string { return fmt.Sprintf("refs/pull/%d/head", pr) }

// FetchRef brings one ref of the remote into the bare clone at dir (made by
// publish.Open) as refs/remotes/origin/<what>. Open the clone with
// publish.Open again afterwards: a publish.Repo opened before does not see
// packs fetched through another handle.
func FetchRef(ctx context.Context, dir string, auth transport.AuthMethod, ref, what string) error {
	r, err := git.PlainOpen(dir)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	rem, err := r.Remote("origin")
	if err != nil {
		return err
	}
	spec := config.RefSpec("+" + ref + ":refs/remotes/origin/" + what)
	err = r.FetchContext(ctx, &git.FetchOptions{RemoteName: "origin", RefSpecs: []config.RefSpec{spec}, Auth: auth, Force: true})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		url := ""
		if urls := rem.Config().URLs; len(urls) > 0 {
			url = redact.URL(urls[0])
		}
		return fmt.Errorf("fetch %s from %s: %w", ref, url, err)
	}
	return nil
}

// MergeBase is the best common ancestor of commits a and b in the clone at
// dir: a pull request's changes are those from it to the head, as the
// forges show them ("three dots"), whatever reached the base branch since.
// "" when they share no history.
func MergeBase(dir, a, b string) (string, error) {
	r, err := git.PlainOpen(dir)
	if err != nil {
		return "", fmt.Errorf("open %s: %w", dir, err)
	}
	ca, err := r.CommitObject(plumbing.NewHash(a))
	if err != nil {
		return "", fmt.Errorf("commit %s: %w", a, err)
	}
	cb, err := r.CommitObject(plumbing.NewHash(b))
	if err != nil {
		return "", fmt.Errorf("commit %s: %w", b, err)
	}
	bases, err := ca.MergeBase(cb)
	if err != nil {
		return "", err
	}
	if len(bases) == 0 {
		return "", nil
	}
	return bases[0].Hash.String(), nil
}

// NamesAt indexes the files of commit rev in the clone at dir by name, for
// Options.Named; an empty rev (no target branch yet) has none.
func NamesAt(dir, rev string) (func(name string) ([]string, error), error) {
	idx := map[string][]string{}
	if rev != "" {
		r, err := git.PlainOpen(dir)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", dir, err)
		}
		c, err := r.CommitObject(plumbing.NewHash(rev))
		if err != nil {
			return nil, fmt.Errorf("commit %s: %w", rev, err)
		}
		t, err := c.Tree()
		if err != nil {
			return nil, err
		}
		w := object.NewTreeWalker(t, true, nil)
		defer w.Close()
		for {
			p, e, err := w.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, err
			}
			if e.Mode.IsFile() {
				idx[e.Name] = append(idx[e.Name], p)
			}
		}
	}
	return func(name string) ([]string, error) { return idx[name], nil }, nil
}
