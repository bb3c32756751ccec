package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"

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

// The content types both forges offer for a hook. A form-encoded delivery
// carries the JSON in the form field "payload".
const (
	contentJSON = "application/json"
	contentForm = "application/x-www-form-urlencoded"
)

var (
	errSignature = errors.New("signature check failed")
	// errContentType is a Content-Type the handler cannot read (415).
	errContentType = errors.New("unsupported Content-Type")
	// errForm is a form-encoded delivery without exactly one payload field.
	errForm = errors.New("form-encoded delivery without a single payload field")
)

// mediaType returns the delivery's media type, JSON or form. A delivery
// without a Content-Type (neither forge sends one) is read as JSON, as it
// always was.
func mediaType(h http.Header) (string, error) {
	ct := h.Get("Content-Type")
	if ct == "" {
		return contentJSON, nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return "", fmt.Errorf("%w: unreadable Content-Type %q (send %s or %s)", errContentType, ct, contentJSON, contentForm)
	}
	if mt != contentJSON && mt != contentForm {
		return "", fmt.Errorf("%w %q (send %s or %s)", errContentType, mt, contentJSON, contentForm)
	}
	return mt, nil
}

// open authenticates a delivery and returns its JSON payload; a nil secret
// skips the signature check (Insecure). The forges sign different bytes of
// a form-encoded delivery:
//   - GitHub signs the request body as sent, form or JSON; the signature is
//     checked before anything in the body is parsed.
//   - Gitea (and Forgejo) sign the JSON payload for both content types: a
//     form delivery's signature covers the decoded "payload" field, not
//     the form body (services/webhook/deliver.go signs t.PayloadContent).
func open(forge Forge, mt string, h http.Header, body, secret []byte) ([]byte, error) {
	switch forge {
	case GitHub:
		if secret != nil {
			if err := verify(GitHub, h, body, secret); err != nil {
				return nil, err
			}
		}
		// The signature is checked above, over the raw body, with the same
		// ValidateSignature this calls: here go-github only extracts the
		// JSON (the body, or the form's payload field).
		p, err := github.ValidatePayloadFromBody(mt, bytes.NewReader(body), "", nil)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errForm, err)
		}
		if mt == contentForm && len(p) == 0 {
			return nil, fmt.Errorf("%w: the form has no payload field", errForm)
		}
		return p, nil
	case Gitea:
		p := body
		if mt == contentForm {
			var err error
			if p, err = formPayload(body); err != nil {
				return nil, err
			}
		}
		if secret != nil {
			if err := verify(Gitea, h, p, secret); err != nil {
				return nil, err
			}
		}
		return p, nil
	}
	return nil, fmt.Errorf("%w: unknown forge %q", errSignature, forge)
}

// formPayload is the one "payload" field of a form-encoded body.
func formPayload(body []byte) ([]byte, error) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errForm, err)
	}
	switch v := form["payload"]; len(v) {
	case 1:
		return []byte(v[0]), nil
	case 0:
		return nil, fmt.Errorf("%w: the form has no payload field", errForm)
	default:
		return nil, fmt.Errorf("%w: the form has %d payload fields", errForm, len(v))
	}
}

// verify checks the delivery's signature over the bytes its forge signed.
// It fails closed: a missing or malformed signature is a failure.
func verify(forge Forge, h http.Header, signed, secret []byte) error {
	switch forge {
	case GitHub:
		// Only SHA-256: neither the legacy X-Hub-Signature header nor a
		// sha1= value in X-Hub-Signature-256 (which go-github would check
		// with SHA-1) is accepted.
		sig := h.Get(github.SHA256SignatureHeader)
		if sig == "" {
			return fmt.Errorf("%w: no %s header", errSignature, github.SHA256SignatureHeader)
		}
		if !strings.HasPrefix(sig, "sha256=") {
			return fmt.Errorf("%w: %s is not a sha256= signature", errSignature, github.SHA256SignatureHeader)
		}
		if err := github.ValidateSignature(sig, signed, secret); err != nil {
			return fmt.Errorf("%w: %v", errSignature, err)
		}
		return nil
	case Gitea:
		got, err := hex.DecodeString(h.Get("X-Gitea-Signature"))
		if err != nil || len(got) != sha256.Size {
			return fmt.Errorf("%w: no valid X-Gitea-Signature header", errSignature)
		}
		mac := hmac.New(sha256.New, secret)
		mac.Write(signed)
		if !hmac.Equal(got, mac.Sum(nil)) {
			return errSignature
		}
		return nil
	}
	return fmt.Errorf("%w: unknown forge %q", errSignature, forge)
}

// errNotPreviewed reports a pull request event whose action changes no code
// (closed, labeled, edited, ...).
var errNotPreviewed = errors.New("pull request action does not change its code")

// prPayload is the part of GitHub's and Gitea's pull_request payloads a
// preview needs; both forges name these fields alike.
type prPayload struct {
	Action      string `json:"action"`
	Number      int    `json:"number"`
	PullRequest struct {
		Number int `json:"number"`
		Base   struct {
			Ref string `json:"ref"`
			Sha string `json:"sha"`
		} `json:"base"`
		Head struct {
			Sha string `json:"sha"`
		} `json:"head"`
	} `json:"pull_request"`
	Repository struct {
		FullName string `json:"full_name"`
		CloneURL string `json:"clone_url"`
	} `json:"repository"`
	Sender struct {
		Login    string `json:"login"`
		UserName string `json:"username"`
	} `json:"sender"`
}

// parsePullRequest turns a pull request that was opened, reopened or got
// new commits into a preview event: refs/pull/<n>/head from the base
// branch's commit to the head.
func parsePullRequest(d delivery, body []byte) (PushEvent, error) {
	var ev PushEvent
	if d.forge != GitHub && d.forge != Gitea {
		return ev, fmt.Errorf("unknown forge %q", d.forge)
	}
	if err := jsonObject(body); err != nil {
		return ev, fmt.Errorf("%s pull_request payload: %w", d.forge, err)
	}
	var p prPayload
	if err := json.Unmarshal(body, &p); err != nil {
		return ev, fmt.Errorf("%s pull_request payload: %w", d.forge, err)
	}
	switch p.Action {
	case "opened", "reopened", "synchronize", "synchronized":
	default:
		return ev, fmt.Errorf("%w: %q", errNotPreviewed, p.Action)
	}
	n := p.Number
	if n == 0 {
		n = p.PullRequest.Number
	}
	ev = PushEvent{Forge: d.forge, DeliveryID: d.id, Repo: p.Repository.FullName, CloneURL: p.Repository.CloneURL,
		Ref: fmt.Sprintf("refs/pull/%d/head", n), Before: p.PullRequest.Base.Sha, After: p.PullRequest.Head.Sha,
		Sender: p.Sender.Login, PullRequest: n, BaseRef: p.PullRequest.Base.Ref}
	if ev.Sender == "" {
		ev.Sender = p.Sender.UserName
	}
	if n <= 0 {
		return ev, fmt.Errorf("%s pull_request payload: no pull request number", d.forge)
	}
	if err := ev.Validate(); err != nil {
		return ev, fmt.Errorf("%s pull_request payload: %w", d.forge, err)
	}
	return ev, nil
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
	if err := ev.Validate(); err != nil {
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
