package redact

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
)

// Scrubber scrubs credentials from text that is printed or logged: the
// secrets it was given, and the user information of any URL (git and HTTP errors
// quote the URL they used, and a token may be its password or its user).
type Scrubber struct{ secrets []string }

// minSecret is the shortest value taken for a token: replacing shorter
// ones would mangle every message and protect nothing.
const minSecret = 4

// New returns a Scrubber for these secrets (tokens, passwords).
func New(secrets ...string) Scrubber {
	var r Scrubber
	for _, s := range secrets {
		if len(s) >= minSecret && !slices.Contains(r.secrets, s) {
			r.secrets = append(r.secrets, s)
		}
	}
	// Longest first, so a token that contains another goes whole.
	slices.SortFunc(r.secrets, func(a, b string) int { return len(b) - len(a) })
	return r
}

// Text scrubs the secrets and every URL's user information from s.
func (r Scrubber) Text(s string) string {
	for _, sec := range r.secrets {
		s = strings.ReplaceAll(s, sec, "***")
	}
	return Text(s)
}

// handler wraps a log handler so messages and attributes are scrubbed.
func (r Scrubber) Handler(h slog.Handler) slog.Handler { return redactHandler{h: h, r: r} }

type redactHandler struct {
	h slog.Handler
	r Scrubber
}

func (h redactHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.h.Enabled(ctx, l) }

func (h redactHandler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, h.r.Text(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.h.Handle(ctx, out)
}

func (h redactHandler) WithAttrs(as []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(as))
	for i, a := range as {
		clean[i] = h.attr(a)
	}
	return redactHandler{h: h.h.WithAttrs(clean), r: h.r}
}

func (h redactHandler) WithGroup(name string) slog.Handler {
	return redactHandler{h: h.h.WithGroup(name), r: h.r}
}

// attr scrubs a string, an error, a Stringer or any value whose printed
// form holds a credential (then logged as that scrubbed string).
func (h redactHandler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.r.Text(v.String()))
	case slog.KindGroup:
		g := v.Group()
		clean := make([]slog.Attr, len(g))
		for i, x := range g {
			clean[i] = h.attr(x)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(clean...)}
	case slog.KindAny:
		printed := fmt.Sprint(v.Any())
		if clean := h.r.Text(printed); clean != printed {
			return slog.String(a.Key, clean)
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
