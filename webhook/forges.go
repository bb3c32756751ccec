package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"code.gitea.io/sdk/gitea"
	"github.com/google/go-github/v75/github"
)

// delivery is what the transport read: which forge, which event, which id.
type delivery struct {
	forge Forge
	event string
	id    string
}

// identify reads the forge and event from the headers. Gitea also sends
// GitHub's headers, so its own are checked first.
func identify(h http.Header) (delivery, bool) {
	if ev := h.Get("X-Gitea-Event"); ev != "" {
		return delivery{forge: Gitea, event: ev, id: h.Get("X-Gitea-Delivery")}, true
	}
	if ev := h.Get(github.EventTypeHeader); ev != "" {
		return delivery{forge: GitHub, event: ev, id: h.Get(github.DeliveryIDHeader)}, true
	}
	return delivery{}, false
}

var errSignature = errors.New("signature check failed")

// verify checks the delivery's signature against the secret. It fails closed:
// a missing or malformed signature is a failure.
func verify(forge Forge, h http.Header, body, secret []byte) error {
	switch forge {
	case GitHub:
		// Only the SHA-256 signature: X-Hub-Signature (SHA-1) is not accepted.
		sig := h.Get(github.SHA256SignatureHeader)
		if sig == "" {
			return fmt.Errorf("%w: no %s header", errSignature, github.SHA256SignatureHeader)
		}
		if err := github.ValidateSignature(sig, body, secret); err != nil {
			return fmt.Errorf("%w: %v", errSignature, err)
		}
		return nil
	case Gitea:
		got, err := hex.DecodeString(h.Get("X-Gitea-Signature"))
		if err != nil || len(got) != sha256.Size {
			return fmt.Errorf("%w: no valid X-Gitea-Signature header", errSignature)
		}
		mac := hmac.New(sha256.New, secret)
		mac.Write(body)
		if !hmac.Equal(got, mac.Sum(nil)) {
			return errSignature
		}
		return nil
	}
	return fmt.Errorf("%w: unknown forge %q", errSignature, forge)
}

// parsePush turns a push payload into the neutral event.
func parsePush(d delivery, body []byte) (PushEvent, error) {
	var ev PushEvent
	if d.forge != GitHub && d.forge != Gitea {
		return ev, fmt.Errorf("unknown forge %q", d.forge)
	}
	// null, [], "x" or 1 are valid JSON: decoding them yields a zero value
	// or a nil pointer without an error, so the shape is checked first.
	if err := jsonObject(body); err != nil {
		return ev, fmt.Errorf("%s push payload: %w", d.forge, err)
	}
	switch d.forge {
	case GitHub:
		// Decoded into the concrete type: go-github's ParseWebHook returns
		// an untyped nil for a null payload.
		var push github.PushEvent
		if err := json.Unmarshal(body, &push); err != nil {
			return ev, fmt.Errorf("github push payload: %w", err)
		}
		ev = PushEvent{
			Ref:    push.GetRef(),
			Before: push.GetBefore(),
			After:  push.GetAfter(),
			Forced: push.GetForced(),
			Sender: push.GetSender().GetLogin(),
		}
		if r := push.GetRepo(); r != nil {
			ev.Repo, ev.CloneURL = r.GetFullName(), r.GetCloneURL()
		}
	case Gitea:
		var push giteaPush
		if err := json.Unmarshal(body, &push); err != nil {
			return ev, fmt.Errorf("gitea push payload: %w", err)
		}
		ev = PushEvent{Ref: push.Ref, Before: push.Before, After: push.After}
		if push.Repository != nil {
			ev.Repo, ev.CloneURL = push.Repository.FullName, push.Repository.CloneURL
		}
		if push.Sender != nil {
			ev.Sender = push.Sender.UserName
		}
	}
	ev.Forge, ev.DeliveryID = d.forge, d.id
	if err := ev.validate(); err != nil {
		return ev, fmt.Errorf("%s push payload: %w", d.forge, err)
	}
	return ev, nil
}

// jsonObject reports a payload that is not a JSON object, by what it is.
func jsonObject(body []byte) error {
	b := bytes.TrimLeft(body, " \t\r\n")
	if len(b) == 0 {
		return errors.New("empty payload, not a JSON object")
	}
	what := "not JSON"
	switch c := b[0]; {
	case c == '{':
		return nil
	case c == 'n':
		what = "JSON null"
	case c == '[':
		what = "a JSON array"
	case c == '"':
		what = "a JSON string"
	case c == 't' || c == 'f':
		what = "a JSON boolean"
	case c == '-' || c >= '0' && c <= '9':
		what = "a JSON number"
	}
	return fmt.Errorf("payload is %s, not a JSON object", what)
}

// giteaPush is Gitea's PushPayload (modules/structs/hook.go), which the SDK
// does not export; its parts are the SDK's types.
type giteaPush struct {
	Ref        string                 `json:"ref"`
	Before     string                 `json:"before"`
	After      string                 `json:"after"`
	Commits    []*gitea.PayloadCommit `json:"commits"`
	Repository *gitea.Repository      `json:"repository"`
	Pusher     *gitea.User            `json:"pusher"`
	Sender     *gitea.User            `json:"sender"`
}

// ParsePush reads a push payload that did not come through the handler (the
// event file of a GitHub or Gitea Actions run) into the neutral event.
func ParsePush(forge Forge, deliveryID string, body []byte) (PushEvent, error) {
	return parsePush(delivery{forge: forge, event: "push", id: deliveryID}, body)
}
