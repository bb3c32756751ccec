// Package airflow is nbpipe's client for the Airflow 3 REST API (/api/v2):
// the calls that follow a publish (wait until Airflow has parsed the new
// commit of the DAG bundle, report import errors, create pools, unpause,
// trigger) and the ones that follow a run (state, failed tasks, task logs).
//
// Facts it relies on were checked against a running Airflow 3.3.2 (see
// /work/shared/api-facts.md §1.5 and this package's TestRealAirflow):
// triggering answers 200 and needs the key logical_date; unpausing a
// scheduled DAG with catchup=False starts a scheduled run at once;
// PUT /parseDagFile/{file_token} makes the dag-processor fetch the DAG's
// bundle at once instead of at its refresh_interval; task logs come back as
// a list of structured events.
//
// Errors never carry a token, a password or a secret: they name the call,
// the HTTP status and a short excerpt of Airflow's `detail`.
package airflow

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
	"time"
)

var (
	// ErrNotFound: Airflow answered 404 (no such DAG, run, pool or file token).
	ErrNotFound = errors.New("not found")
	// ErrAuthRefused: Airflow refused the credentials (401, or 403 "Invalid JWT
	// token"), also after one renewal of the token. The error is an *AuthError.
	ErrAuthRefused = errors.New("authentication refused")
	// ErrForbidden: the credentials are good but lack the permission (403).
	ErrForbidden = errors.New("forbidden")
	// ErrConflict: Airflow answered 409.
	ErrConflict = errors.New("conflict")
)

// Client talks to one Airflow api-server. The zero values of HTTP, UIURL,
// Now and Sleep mean a client with a 30 s timeout, BaseURL, time.Now and a
// context-aware time.Sleep. Fields must not change while the client is in use.
type Client struct {
	BaseURL string // e.g. http://127.0.0.1:8080 (without /api/v2)
	Auth    Auth
	HTTP    *http.Client
	UIURL   string // base of the links RunURL makes; default BaseURL

	// The clock of Deploy and WaitRun, replaceable in tests.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error

	// Deploy's pacing; zero means the default in parentheses.
	PollInterval  time.Duration // between two looks at the DAG (1 s)
	NudgeInterval time.Duration // between two reparse requests (5 s)
	AdoptTimeout  time.Duration // wait for the run the scheduler starts on unpause (30 s)
}

// New returns a client for the api-server at baseURL.
func New(baseURL string, auth Auth) *Client {
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), Auth: auth}
}

var defaultHTTP = &http.Client{Timeout: 30 * time.Second}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return defaultHTTP
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Client) sleep(ctx context.Context, d time.Duration) error {
	if c.Sleep != nil {
		return c.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// APIError is an answer outside 2xx. Detail is a short excerpt of Airflow's
// `detail` (validation errors as "loc: msg"), never the request's headers or
// body.
type APIError struct {
	Method, Path string
	Status       int
	Detail       string
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("HTTP %d from %s %s", e.Status, e.Method, e.Path)
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Is makes errors.Is(err, ErrNotFound / ErrConflict / ErrForbidden) work.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrConflict:
		return e.Status == http.StatusConflict
	case ErrForbidden:
		return e.Status == http.StatusForbidden && !invalidToken(e)
	}
	return false
}

// AuthError is a refused authentication; Way names the Auth (never its
// secret).
type AuthError struct {
	Way string
	Err error
}

func (e *AuthError) Error() string {
	hint := ""
	switch {
	case strings.HasPrefix(e.Way, "self-minted"):
		hint = " (does the secret match the api-server's [api_auth] jwt_secret, and the audience its jwt_audience?)"
	case strings.HasPrefix(e.Way, "password"):
		hint = " (wrong user or password?)"
	case strings.HasPrefix(e.Way, "pre-issued"):
		hint = " (expired, or signed with another secret?)"
	}
	return fmt.Sprintf("authentication refused, %s%s: %v", e.Way, hint, e.Err)
}
func (e *AuthError) Unwrap() error        { return e.Err }
func (e *AuthError) Is(target error) bool { return target == ErrAuthRefused }

// invalidToken: Airflow answers 403 "Invalid JWT token" for a token whose
// signature, audience or claims it rejects (401 only for an expired one).
func invalidToken(e *APIError) bool {
	return e.Status == http.StatusForbidden && strings.Contains(strings.ToLower(e.Detail), "invalid jwt")
}

func refused(e *APIError) bool { return e.Status == http.StatusUnauthorized || invalidToken(e) }

// do sends one API call and decodes a 2xx answer into out (unless out is nil).
// A refused token (401, or 403 "Invalid JWT token", which a token from a
// restarted Airflow with another secret also gets) is dropped and the call
// is made once more with a fresh one.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
	}
	if c.Auth == nil {
		return errors.New("the client has no Auth")
	}
	for attempt := 0; ; attempt++ {
		token, err := c.Auth.Token(ctx, c.httpClient(), c.BaseURL)
		if err != nil {
			var ae *AuthError
			if errors.As(err, &ae) {
				return err
			}
			return fmt.Errorf("getting a token, %s: %w", c.Auth, err)
		}
		u := c.BaseURL + path
		if len(query) > 0 {
			u += "?" + query.Encode()
		}
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, u, rd)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Accept", "application/json")
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := c.httpClient().Do(req)
		if err != nil {
			// *url.Error carries the URL (no credentials in it) and the cause.
			return err
		}
		data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
		}
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			if out == nil || len(bytes.TrimSpace(data)) == 0 {
				return nil
			}
			if err := json.Unmarshal(data, out); err != nil {
				return fmt.Errorf("%s %s: decoding the answer: %w", method, path, err)
			}
			return nil
		}
		apiErr := &APIError{Method: method, Path: path, Status: resp.StatusCode, Detail: detail(data)}
		if refused(apiErr) {
			c.Auth.Invalidate(token)
			if attempt == 0 {
				continue
			}
			return &AuthError{Way: c.Auth.String(), Err: apiErr}
		}
		return apiErr
	}
}

// detail extracts Airflow's (FastAPI's) `detail` from an error body: a string,
// or a list of validation errors rendered "loc: msg" (their `input`, which
// may echo the request, is left out). At most 300 characters.
func detail(data []byte) string {
	var v struct {
		Detail json.RawMessage `json:"detail"`
	}
	var s string
	if json.Unmarshal(data, &v) == nil && len(v.Detail) > 0 {
		var str string
		var list []struct {
			Loc []any  `json:"loc"`
			Msg string `json:"msg"`
		}
		switch {
		case json.Unmarshal(v.Detail, &str) == nil:
			s = str
		case json.Unmarshal(v.Detail, &list) == nil:
			parts := make([]string, 0, len(list))
			for _, e := range list {
				loc := make([]string, len(e.Loc))
				for i, l := range e.Loc {
					loc[i] = fmt.Sprint(l)
				}
				parts = append(parts, strings.Join(loc, ".")+": "+e.Msg)
			}
			s = strings.Join(parts, "; ")
		default:
			s = string(v.Detail)
		}
	} else {
		s = strings.TrimSpace(string(data))
		if strings.HasPrefix(s, "<") { // an HTML error page from a proxy
			s = ""
		}
	}
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 300 {
		s = string(r[:300]) + "…"
	}
	return s
}

func esc(s string) string { return url.PathEscape(s) }
