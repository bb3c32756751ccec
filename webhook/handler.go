package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// Intake takes accepted pushes. Accept must not return before the event is
// durable: the forge's 2xx promises it will be processed.
type Intake interface {
	Accept(ctx context.Context, ev PushEvent) error
}

// Handler is the webhook endpoint for both forges. It reads both content
// types a hook can be set to: application/json and
// application/x-www-form-urlencoded (the JSON in the field "payload").
type Handler struct {
	// Secrets holds each forge's webhook secret. A forge without one is
	// refused unless Insecure is set (the server refuses to start that way
	// without the explicit flag).
	Secrets  map[Forge][]byte
	Insecure bool
	// MaxBody caps the request body; larger deliveries get 413.
	MaxBody int64
	// Filter returns why a verified push is ignored ("" to accept): branch
	// and repository allow-lists, rate limits.
	Filter func(PushEvent) string
	Intake Intake
	Log    *slog.Logger
	// MaxInFlight caps the requests still reading or verifying their body
	// (0: DefaultMaxInFlight). Until its signature is checked a request is
	// anyone's, and a slow sender holds its slot for as long as it trickles
	// the body; over the cap a request gets 503 with Retry-After at once,
	// its body unread. A verified delivery leaves its slot before it is
	// handed to the intake.
	MaxInFlight int

	slotsOnce sync.Once
	slots     chan struct{}
}

// DefaultMaxBody is GitHub's payload cap (25 MB).
const DefaultMaxBody = 25 << 20

// DefaultMaxInFlight is the default of Handler.MaxInFlight.
const DefaultMaxInFlight = 64

// busyRetryAfter is the Retry-After of a 503 over MaxInFlight, in seconds.
const busyRetryAfter = "5"

type reply struct {
	Status   string `json:"status"`
	Delivery string `json:"delivery,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	log := h.Log
	if log == nil {
		log = slog.Default()
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		respond(w, http.StatusMethodNotAllowed, reply{Status: "error", Reason: "POST only"})
		return
	}
	d, ok := identify(r.Header)
	if !ok {
		respond(w, http.StatusBadRequest, reply{Status: "error", Reason: "not a GitHub or Gitea delivery (no X-Gitea-Event or X-GitHub-Event header)"})
		return
	}
	log = log.With("delivery", d.id, "forge", d.forge, "event", d.event)
	mt, err := mediaType(r.Header)
	if err != nil {
		log.Warn("delivery refused", "err", err)
		respond(w, http.StatusUnsupportedMediaType, reply{Status: "error", Delivery: d.id, Reason: err.Error()})
		return
	}
	secret := h.Secrets[d.forge]
	if len(secret) == 0 {
		if !h.Insecure {
			log.Warn("delivery refused: no secret configured for this forge")
			respond(w, http.StatusUnauthorized, reply{Status: "error", Delivery: d.id, Reason: "no secret configured for " + string(d.forge)})
			return
		}
		secret = nil // Insecure: no signature check
	}
	release, ok := h.acquire()
	if !ok {
		log.Warn("delivery refused: too many deliveries being read", "limit", cap(h.slots))
		busy(w, d.id)
		return
	}
	defer release()
	max := h.MaxBody
	if max <= 0 {
		max = DefaultMaxBody
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			log.Warn("delivery refused: body too large", "limit", max)
			respond(w, http.StatusRequestEntityTooLarge, reply{Status: "error", Delivery: d.id, Reason: "body too large"})
			return
		}
		respond(w, http.StatusBadRequest, reply{Status: "error", Delivery: d.id, Reason: "could not read the body"})
		return
	}
	body, err = open(d.forge, mt, r.Header, body, secret)
	switch {
	case errors.Is(err, errSignature):
		log.Warn("delivery refused", "err", err)
		respond(w, http.StatusUnauthorized, reply{Status: "error", Delivery: d.id, Reason: "signature check failed"})
		return
	case err != nil:
		log.Warn("delivery refused", "err", err)
		respond(w, http.StatusBadRequest, reply{Status: "error", Delivery: d.id, Reason: err.Error()})
		return
	}
	// Authenticated: what follows (the intake may take its time) does not
	// hold a slot meant for requests not yet verified.
	release()
	switch d.event {
	case "ping":
		respond(w, http.StatusOK, reply{Status: "pong", Delivery: d.id})
		return
	case "push", "pull_request":
	default:
		log.Info("event ignored")
		respond(w, http.StatusAccepted, reply{Status: "ignored", Delivery: d.id, Reason: "event " + d.event + " is not handled"})
		return
	}
	parse := parsePush
	if d.event == "pull_request" {
		parse = parsePullRequest
	}
	ev, err := parse(d, body)
	if errors.Is(err, errNotPreviewed) {
		log.Info("event ignored", "reason", err)
		respond(w, http.StatusAccepted, reply{Status: "ignored", Delivery: d.id, Reason: err.Error()})
		return
	}
	if err != nil {
		log.Warn("delivery refused", "err", err)
		respond(w, http.StatusBadRequest, reply{Status: "error", Delivery: d.id, Reason: err.Error()})
		return
	}
	log = log.With("repo", ev.Repo, "ref", ev.Ref, "after", ev.After)
	why := ""
	switch {
	case ev.PullRequest != 0 && ev.TargetBranch() != "":
		if h.Filter != nil {
			why = h.Filter(ev)
		}
	case ev.Branch() == "":
		why = "not a branch push"
	case ev.Deleted():
		why = "branch deleted"
	case h.Filter != nil:
		why = h.Filter(ev)
	}
	if why != "" {
		log.Info("push ignored", "reason", why)
		respond(w, http.StatusAccepted, reply{Status: "ignored", Delivery: d.id, Reason: why})
		return
	}
	switch err := h.Intake.Accept(r.Context(), ev); {
	case errors.Is(err, ErrDuplicate):
		log.Info("duplicate delivery")
		respond(w, http.StatusOK, reply{Status: "duplicate", Delivery: d.id})
	case err != nil:
		// 503 makes the forge (or its operator) redeliver: nothing is lost.
		log.Error("push not accepted", "err", err)
		respond(w, http.StatusServiceUnavailable, reply{Status: "error", Delivery: d.id, Reason: "intake unavailable"})
	default:
		log.Info("push accepted")
		respond(w, http.StatusAccepted, reply{Status: "accepted", Delivery: d.id})
	}
}

// acquire takes one of the MaxInFlight slots, without waiting; release
// may be called more than once.
func (h *Handler) acquire() (release func(), ok bool) {
	h.initSlots()
	select {
	case h.slots <- struct{}{}:
		var once sync.Once
		return func() { once.Do(func() { <-h.slots }) }, true
	default:
		return nil, false
	}
}

func (h *Handler) initSlots() {
	h.slotsOnce.Do(func() {
		n := h.MaxInFlight
		if n <= 0 {
			n = DefaultMaxInFlight
		}
		h.slots = make(chan struct{}, n)
	})
}

// inFlight is the number of requests reading or verifying their body.
func (h *Handler) inFlight() int {
	h.initSlots()
	return len(h.slots)
}

// busy answers 503 without reading the body. The connection is closed
// after the answer (its unread body makes it unusable), and the read
// deadline is cut so net/http does not wait on a slow sender to drain the
// body once the handler returns.
func busy(w http.ResponseWriter, id string) {
	w.Header().Set("Retry-After", busyRetryAfter)
	w.Header().Set("Connection", "close")
	respond(w, http.StatusServiceUnavailable, reply{Status: "error", Delivery: id, Reason: "too many deliveries in progress, retry later"})
	_ = http.NewResponseController(w).SetReadDeadline(time.Now())
}

func respond(w http.ResponseWriter, code int, body reply) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}
