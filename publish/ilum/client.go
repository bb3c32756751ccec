package ilum

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Client talks to one ilum-core.
type Client struct {
	// BaseURL is ilum-core's address, with or without the /api/v1 base
	// path: http://ilum-core:9888 and http://ilum-core:9888/api/v1 are the
	// same.
	BaseURL string
	// Token, when set, is sent as "Authorization: Bearer <Token>"
	// (UNCONFIRMED scheme, see the package doc).
	Token string
	// HTTP is the client used for requests; nil means a plain http.Client.
	// It has no timeout of its own: the context of each call bounds it
	// (ExecuteService waits for the job to finish).
	HTTP *http.Client
	// UIURL is the Ilum UI's address, for links. Empty means BaseURL
	// without /api/v1.
	UIURL string
}

// New returns a client for the ilum-core at baseURL; token may be empty.
func New(baseURL, token string) *Client {
	return &Client{BaseURL: baseURL, Token: token, HTTP: &http.Client{}}
}

const apiPrefix = "/api/v1"

// apiBase is BaseURL ending in /api/v1, without a trailing slash.
func (c *Client) apiBase() string {
	b := strings.TrimRight(c.BaseURL, "/")
	if !strings.HasSuffix(b, apiPrefix) {
		b += apiPrefix
	}
	return b
}

func (c *Client) uiBase() string {
	if c.UIURL != "" {
		return strings.TrimRight(c.UIURL, "/")
	}
	return strings.TrimSuffix(strings.TrimRight(c.BaseURL, "/"), apiPrefix)
}

func (c *Client) uiLink(kind, id string) string {
	if id == "" {
		return ""
	}
	return c.uiBase() + "/workloads/details/" + kind + "/" + url.PathEscape(id)
}

// JobURL is the Ilum UI page of a job.
func (c *Client) JobURL(jobID string) string { return c.uiLink("job", jobID) }

// GroupURL is the Ilum UI page of a service group: the UI calls groups
// services (/workloads/details/service/<id>, as the seed's UI links them).
func (c *Client) GroupURL(groupID string) string { return c.uiLink("service", groupID) }

// ScheduleURL is the Ilum UI page of a schedule (the seed's UI link).
func (c *Client) ScheduleURL(scheduleID string) string { return c.uiLink("schedule", scheduleID) }

// ErrInvalidSpec marks a spec the client refuses before sending anything.
var ErrInvalidSpec = errors.New("invalid spec")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidSpec, fmt.Sprintf(format, args...))
}

// ErrBadResponse marks a 2xx answer the client cannot read, such as an HTML
// page from a wrong BaseURL or JSON without the expected id.
var ErrBadResponse = errors.New("unexpected response")

// StatusError is a non-2xx answer from ilum-core.
type StatusError struct {
	Method string
	Path   string // the request path, without host or query
	Status int
	// Message is a short excerpt of the server's message ("message" of the
	// JSON error body, else the body text), with the token removed.
	Message string
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("%s %s: HTTP %d", e.Method, e.Path, e.Status)
	if t := http.StatusText(e.Status); t != "" {
		s += " " + t
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// ExecutionError is an executed service job that reported a failure.
type ExecutionError struct {
	Message    string
	StackTrace string
}

func (e *ExecutionError) Error() string {
	return "job failed: " + excerpt(e.Message, "")
}

// Permanent reports whether retrying the call that returned err cannot help:
// a refused spec, an unreadable answer, or a 4xx other than 408, 425 and 429.
// 5xx answers, network errors, context errors and failed service jobs are not
// permanent: the caller's retry policy decides.
func Permanent(err error) bool {
	if err == nil {
		return false
	}
	var se *StatusError
	if errors.As(err, &se) {
		switch se.Status {
		case http.StatusRequestTimeout, http.StatusTooEarly, http.StatusTooManyRequests:
			return false
		}
		return se.Status < 500
	}
	return errors.Is(err, ErrInvalidSpec) || errors.Is(err, ErrBadResponse)
}

// NotFound reports whether err is a 404 from ilum-core.
func NotFound(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Status == http.StatusNotFound
}

func isStatus(err error, status int) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Status == status
}

const (
	maxBody      = 8 << 20
	maxErrorBody = 64 << 10
	maxExcerpt   = 300
)

// request is one call: body is nil for none.
type request struct {
	method, path string // path below /api/v1, already escaped
	contentType  string
	body         []byte
}

// do sends r and decodes a 2xx JSON answer into out (when out is not nil).
func (c *Client) do(ctx context.Context, r request, out any) error {
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, c.apiBase()+r.path, body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", r.method, apiPrefix+r.path, c.scrub(err))
	}
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "nbpipe-ilum")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return c.scrub(err) // *url.Error: method, URL (password stripped) and cause
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return &StatusError{Method: r.method, Path: req.URL.Path, Status: resp.StatusCode, Message: excerpt(serverMessage(data), c.Token)}
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", r.method, req.URL.Path, c.scrub(err))
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: %w: HTTP %d with a body that is not the expected JSON: %s", r.method, req.URL.Path, ErrBadResponse, resp.StatusCode, excerpt(string(data), c.Token))
	}
	return nil
}

// scrub removes the token from an error that is not ours, as a precaution.
func (c *Client) scrub(err error) error {
	if c.Token == "" || !strings.Contains(err.Error(), c.Token) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), c.Token, "[token]"))
}

// serverMessage is the "message" of a JSON error body, else the body.
func serverMessage(data []byte) string {
	var m struct {
		Message any `json:"message"`
		Error   any `json:"error"`
	}
	if json.Unmarshal(data, &m) == nil {
		for _, v := range []any{m.Message, m.Error} {
			if s, ok := v.(string); ok && s != "" {
				return s
			}
		}
	}
	return string(data)
}

// excerpt is s on one line, without the token, at most maxExcerpt bytes.
func excerpt(s, token string) string {
	if token != "" {
		s = strings.ReplaceAll(s, token, "[token]")
	}
	s = strings.ToValidUTF8(s, "?")
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}), " ")
	if len(s) > maxExcerpt {
		cut := maxExcerpt
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// findByName looks a group or schedule up by name: GET /{kind}/name/{name}.
func findByName[T any](ctx context.Context, c *Client, kind, name string) (T, bool, error) {
	var info T
	err := c.do(ctx, request{method: http.MethodGet, path: "/" + kind + "/name/" + url.PathEscape(name)}, &info)
	if NotFound(err) {
		return info, false, nil
	}
	return info, err == nil, err
}

// create makes a group or schedule: a multipart POST /{kind} whose answer
// names the new id in idField.
func (c *Client) create(ctx context.Context, kind, idField string, fs fields, file upload) (string, error) {
	ct, body, err := multipartBody(fs, file)
	if err != nil {
		return "", err
	}
	var out map[string]any
	if err := c.do(ctx, request{http.MethodPost, "/" + kind, ct, body}, &out); err != nil {
		return "", err
	}
	id, _ := out[idField].(string)
	if id == "" {
		return "", fmt.Errorf("POST %s/%s: %w: no %s in the answer", apiPrefix, kind, ErrBadResponse, idField)
	}
	return id, nil
}
