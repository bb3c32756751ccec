// Package webhook receives GitHub and Gitea deliveries: it checks their
// signatures, turns every push into one neutral push.Event and hands it to a
// durable intake before it answers. HTTP transport (handler.go), per-forge
// parsing (forges.go) and the neutral model (internal/push) stay apart, so a
// forge is one parser more.
package webhook

import "github.com/nbpipe/nbpipe/internal/push"

// The neutral model, under the names the webhook package always had.
type (
	Forge     = push.Forge
	PushEvent = push.Event
)

const (
	GitHub  = push.GitHub
	Gitea   = push.Gitea
	ZeroSHA = push.ZeroSHA
)
