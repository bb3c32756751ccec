// Package push is the neutral model of a push, whatever forge or front door
// (webhook, Actions event file) it came from. The pipeline and the Action
// import it without the HTTP handler.
package push

import (
	"errors"
	"strings"
)

// Forge names the kind of server that sent a delivery.
type Forge string

const (
	GitHub Forge = "github"
	Gitea  Forge = "gitea"
)

// ZeroSHA is the object id forges send for a ref that did not exist (before)
// or no longer exists (after).
const ZeroSHA = "0000000000000000000000000000000000000000"

// Event is a push to a repository, whatever forge sent it. The changed
// files are never taken from it: forges truncate commit lists, so nbpipe diffs
// Before..After itself.
type Event struct {
	Forge      Forge  `json:"forge"`
	DeliveryID string `json:"delivery_id"`
	Repo       string `json:"repo"` // owner/name
	CloneURL   string `json:"clone_url"`
	Ref        string `json:"ref"` // refs/heads/main
	Before     string `json:"before"`
	After      string `json:"after"`
	Forced     bool   `json:"forced,omitempty"`
	Sender     string `json:"sender"`
	// PullRequest is the number of a pull request to preview (0 for a
	// push): then Ref is refs/pull/<n>/head, Before the base branch's
	// commit, After the pull request's head and BaseRef the base branch.
	PullRequest int    `json:"pull_request,omitempty"`
	BaseRef     string `json:"base_ref,omitempty"`
}

// TargetBranch is the branch a push goes to, or a pull request's base.
func (e Event) TargetBranch() string {
	if e.PullRequest != 0 {
		return e.BaseRef
	}
	return e.Branch()
}

// Branch is the branch name of a branch push, "" for tags and other refs.
func (e Event) Branch() string {
	b, ok := strings.CutPrefix(e.Ref, "refs/heads/")
	if !ok {
		return ""
	}
	return b
}

// Created reports a push that created its branch: every notebook is new.
func (e Event) Created() bool { return e.Before == ZeroSHA || e.Before == "" }

// Deleted reports a push that deleted its ref.
func (e Event) Deleted() bool { return e.After == ZeroSHA }

// validate checks what the rest of nbpipe relies on.
func (e Event) Validate() error {
	switch {
	case e.Repo == "" || !strings.Contains(e.Repo, "/"):
		return errors.New("push without a repository full name")
	case e.Ref == "":
		return errors.New("push without a ref")
	case !isSHA(e.After):
		return errors.New("push without a valid after commit")
	case e.Before != "" && !isSHA(e.Before):
		return errors.New("push with an invalid before commit")
	case e.PullRequest < 0 || e.PullRequest > 0 && e.BaseRef == "":
		return errors.New("pull request without a number or a base branch")
	}
	return nil
}

func isSHA(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
