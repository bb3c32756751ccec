package airflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DAG is the part of Airflow's DAGResponse nbpipe uses. A JSON null leaves
// the zero value ("" for the nullable strings).
type DAG struct {
	DagID           string `json:"dag_id"`
	IsPaused        bool   `json:"is_paused"`
	IsStale         bool   `json:"is_stale"`
	HasImportErrors bool   `json:"has_import_errors"`
	// BundleName and BundleVersion: the DAG bundle and, for a versioned
	// bundle (GitDagBundle), the commit it was last parsed at; "" for a
	// bundle without versions (the dags folder).
	BundleName      string `json:"bundle_name"`
	BundleVersion   string `json:"bundle_version"`
	RelativeFileloc string `json:"relative_fileloc"` // path inside the bundle
	Fileloc         string `json:"fileloc"`
	// FileToken names the DAG's file for Reparse.
	FileToken      string     `json:"file_token"`
	LastParsedTime *time.Time `json:"last_parsed_time"`
	// TimetableSummary is "" for a DAG without a schedule, else e.g. "0 0 * * *".
	TimetableSummary     string     `json:"timetable_summary"`
	TimetableDescription string     `json:"timetable_description"`
	NextDagrunRunAfter   *time.Time `json:"next_dagrun_run_after"`
	MaxActiveRuns        int        `json:"max_active_runs"`
	Owners               []string   `json:"owners"`
}

// DAG returns one DAG; an error matching ErrNotFound when Airflow does not
// know it (not parsed yet, or its file fails to import).
func (c *Client) DAG(ctx context.Context, dagID string) (DAG, error) {
	var d DAG
	if err := c.do(ctx, http.MethodGet, "/api/v2/dags/"+esc(dagID), nil, nil, &d); err != nil {
		return DAG{}, fmt.Errorf("airflow: dag %s: %w", dagID, err)
	}
	return d, nil
}

// ListOptions filters ListDAGs. Zero values filter nothing; Limit 0 means
// every page.
type ListOptions struct {
	Bundle       string // bundle_name
	DagIDPattern string // dag_id_pattern (SQL LIKE, e.g. "%nbpipe%")
	Paused       *bool
	Limit        int
	IncludeStale bool
}

// ListDAGs pages through the DAGs Airflow knows (stale ones left out unless
// asked for).
func (c *Client) ListDAGs(ctx context.Context, o ListOptions) ([]DAG, error) {
	var out []DAG
	for offset := 0; ; {
		q := url.Values{}
		page := 100
		if o.Limit > 0 && o.Limit-len(out) < page {
			page = o.Limit - len(out)
		}
		q.Set("limit", strconv.Itoa(page))
		q.Set("offset", strconv.Itoa(offset))
		q.Set("order_by", "dag_id")
		if o.Bundle != "" {
			q.Set("bundle_name", o.Bundle)
		}
		if o.DagIDPattern != "" {
			q.Set("dag_id_pattern", o.DagIDPattern)
		}
		if o.Paused != nil {
			q.Set("paused", strconv.FormatBool(*o.Paused))
		}
		if !o.IncludeStale {
			q.Set("exclude_stale", "true")
		}
		var resp struct {
			DAGs  []DAG `json:"dags"`
			Total int   `json:"total_entries"`
		}
		if err := c.do(ctx, http.MethodGet, "/api/v2/dags", q, nil, &resp); err != nil {
			return nil, fmt.Errorf("airflow: list dags: %w", err)
		}
		for _, d := range resp.DAGs {
			// Filter again here: an older api-server ignores bundle_name.
			if o.Bundle != "" && d.BundleName != o.Bundle {
				continue
			}
			out = append(out, d)
		}
		offset += len(resp.DAGs)
		if len(resp.DAGs) == 0 || offset >= resp.Total || (o.Limit > 0 && len(out) >= o.Limit) {
			return out, nil
		}
	}
}

// Reparse asks the dag-processor to parse the file with this token now
// (PUT /api/v2/parseDagFile/{file_token}); for a GitDagBundle that first
// fetches the bundle, so new commits show up without waiting for the
// bundle's refresh_interval.
func (c *Client) Reparse(ctx context.Context, fileToken string) error {
	err := c.do(ctx, http.MethodPut, "/api/v2/parseDagFile/"+esc(fileToken), nil, nil, nil)
	if errors.Is(err, ErrConflict) {
		return nil // a parse of that file is already requested (another deployment asked first)
	}
	if err != nil {
		return fmt.Errorf("airflow: reparse: %w", err)
	}
	return nil
}

// ImportError is one entry of GET /api/v2/importErrors, and the error Deploy
// returns when the deployed file fails to import (then StackTrace holds the
// first lines of Airflow's stack trace).
type ImportError struct {
	ID         int       `json:"import_error_id"`
	Timestamp  time.Time `json:"timestamp"`
	Filename   string    `json:"filename"` // relative to the bundle root
	BundleName string    `json:"bundle_name"`
	StackTrace string    `json:"stack_trace"`
}

func (e *ImportError) Error() string {
	return fmt.Sprintf("airflow: %s (bundle %s) fails to import; Airflow's stack trace:\n%s",
		e.Filename, e.BundleName, strings.TrimRight(e.StackTrace, "\n"))
}

// ImportErrors returns the import errors of the given files (paths relative
// to the bundle root) in bundle ("" = any bundle); no files means all.
func (c *Client) ImportErrors(ctx context.Context, bundle string, files []string) ([]ImportError, error) {
	var out []ImportError
	for offset := 0; ; {
		q := url.Values{"limit": {"100"}, "offset": {strconv.Itoa(offset)}, "order_by": {"import_error_id"}}
		// Narrowing filters of 3.2+; an older api-server ignores them and
		// the matching below still holds.
		if bundle != "" {
			q.Set("bundle_name", bundle)
		}
		if len(files) == 1 {
			q.Set("filename", files[0])
		}
		var resp struct {
			Errors []ImportError `json:"import_errors"`
			Total  int           `json:"total_entries"`
		}
		if err := c.do(ctx, http.MethodGet, "/api/v2/importErrors", q, nil, &resp); err != nil {
			return nil, fmt.Errorf("airflow: import errors: %w", err)
		}
		for _, e := range resp.Errors {
			if (bundle == "" || e.BundleName == bundle) && (len(files) == 0 || slices.Contains(files, e.Filename)) {
				out = append(out, e)
			}
		}
		offset += len(resp.Errors)
		if len(resp.Errors) == 0 || offset >= resp.Total {
			return out, nil
		}
	}
}

// SetPaused pauses or unpauses a DAG (PATCH ?update_mask=is_paused).
func (c *Client) SetPaused(ctx context.Context, dagID string, paused bool) error {
	q := url.Values{"update_mask": {"is_paused"}}
	if err := c.do(ctx, http.MethodPatch, "/api/v2/dags/"+esc(dagID), q, map[string]bool{"is_paused": paused}, nil); err != nil {
		verb := "unpause"
		if paused {
			verb = "pause"
		}
		return fmt.Errorf("airflow: %s %s: %w", verb, dagID, err)
	}
	return nil
}

// Pool is one Airflow pool.
type Pool struct {
	Name  string `json:"name"`
	Slots int    `json:"slots"`
}

// GetPool returns a pool; ErrNotFound when it does not exist.
func (c *Client) GetPool(ctx context.Context, name string) (Pool, error) {
	var p Pool
	if err := c.do(ctx, http.MethodGet, "/api/v2/pools/"+esc(name), nil, nil, &p); err != nil {
		return Pool{}, fmt.Errorf("airflow: pool %s: %w", name, err)
	}
	return p, nil
}

// EnsurePool creates the pool with slots when it does not exist. An existing
// pool is left as it is (its slots are the operator's choice).
func (c *Client) EnsurePool(ctx context.Context, name string, slots int) (created bool, err error) {
	if _, err := c.GetPool(ctx, name); err == nil {
		return false, nil
	} else if !errors.Is(err, ErrNotFound) {
		return false, err
	}
	err = c.do(ctx, http.MethodPost, "/api/v2/pools", nil, map[string]any{"name": name, "slots": slots}, nil)
	if errors.Is(err, ErrConflict) { // created by someone else meanwhile
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("airflow: create pool %s: %w", name, err)
	}
	return true, nil
}

// Run is a DAG run.
type Run struct {
	DagRunID      string         `json:"dag_run_id"`
	DagID         string         `json:"dag_id"`
	State         string         `json:"state"`    // queued, running, success, failed
	RunType       string         `json:"run_type"` // manual, scheduled, backfill, asset_triggered
	TriggeredBy   string         `json:"triggered_by"`
	LogicalDate   *time.Time     `json:"logical_date"`
	RunAfter      *time.Time     `json:"run_after"`
	QueuedAt      *time.Time     `json:"queued_at"`
	StartDate     *time.Time     `json:"start_date"`
	EndDate       *time.Time     `json:"end_date"`
	Conf          map[string]any `json:"conf"`
	Note          string         `json:"note"`
	BundleVersion string         `json:"bundle_version"`

	// Existing is set by Trigger when a run with this id already existed
	// (Airflow answered 409): the run returned is that one, nothing new
	// started.
	Existing bool `json:"-"`
}

// Final reports whether the run has ended (success or failed).
func (r Run) Final() bool { return r.State == "success" || r.State == "failed" }

// Trigger starts a run with the id runID ("" lets Airflow name it), conf
// (the DAG's params) and note. When a run with this id already exists
// (a re-delivered push), nothing is started: the existing run is returned
// with Existing set.
func (c *Client) Trigger(ctx context.Context, dagID, runID string, conf map[string]any, note string) (Run, error) {
	if conf == nil {
		conf = map[string]any{}
	}
	body := map[string]any{
		// logical_date is a required key of TriggerDAGRunPostBody (422 without
		// it). null means run_after = now and no logical date at all, so two
		// runs can never clash on the same logical date (an explicit one
		// repeated gives 409); the run id alone identifies the run.
		"logical_date": nil,
		"conf":         conf,
	}
	if runID != "" {
		body["dag_run_id"] = runID
	}
	if note != "" {
		body["note"] = note
	}
	var r Run
	err := c.do(ctx, http.MethodPost, "/api/v2/dags/"+esc(dagID)+"/dagRuns", nil, body, &r)
	if errors.Is(err, ErrConflict) && runID != "" {
		existing, gerr := c.Run(ctx, dagID, runID)
		if gerr == nil {
			existing.Existing = true
			return existing, nil
		}
	}
	if err != nil {
		return Run{}, fmt.Errorf("airflow: trigger %s: %w", dagID, err)
	}
	return r, nil
}

// Run returns one run; ErrNotFound when there is none with this id.
func (c *Client) Run(ctx context.Context, dagID, runID string) (Run, error) {
	var r Run
	if err := c.do(ctx, http.MethodGet, "/api/v2/dags/"+esc(dagID)+"/dagRuns/"+esc(runID), nil, nil, &r); err != nil {
		return Run{}, fmt.Errorf("airflow: run %s of %s: %w", runID, dagID, err)
	}
	return r, nil
}

// SetRunNote replaces the note of a run.
func (c *Client) SetRunNote(ctx context.Context, dagID, runID, note string) error {
	q := url.Values{"update_mask": {"note"}}
	if err := c.do(ctx, http.MethodPatch, "/api/v2/dags/"+esc(dagID)+"/dagRuns/"+esc(runID), q, map[string]string{"note": note}, nil); err != nil {
		return fmt.Errorf("airflow: note on run %s of %s: %w", runID, dagID, err)
	}
	return nil
}

// RunFilter narrows Runs. Zero values filter nothing; Limit 0 means every
// page. Runs come newest first.
type RunFilter struct {
	State   []string // queued, running, success, failed
	RunType []string // manual, scheduled, ...
	Limit   int
}

// Runs lists the runs of a DAG, newest first.
func (c *Client) Runs(ctx context.Context, dagID string, f RunFilter) ([]Run, error) {
	var out []Run
	for offset := 0; ; {
		page := 100
		if f.Limit > 0 && f.Limit-len(out) < page {
			page = f.Limit - len(out)
		}
		q := url.Values{"limit": {strconv.Itoa(page)}, "offset": {strconv.Itoa(offset)}, "order_by": {"-id"}}
		for _, s := range f.State {
			q.Add("state", s)
		}
		for _, t := range f.RunType {
			q.Add("run_type", t)
		}
		var resp struct {
			Runs  []Run `json:"dag_runs"`
			Total int   `json:"total_entries"`
		}
		if err := c.do(ctx, http.MethodGet, "/api/v2/dags/"+esc(dagID)+"/dagRuns", q, nil, &resp); err != nil {
			return nil, fmt.Errorf("airflow: runs of %s: %w", dagID, err)
		}
		out = append(out, resp.Runs...)
		offset += len(resp.Runs)
		if len(resp.Runs) == 0 || offset >= resp.Total || (f.Limit > 0 && len(out) >= f.Limit) {
			return out, nil
		}
	}
}

// TaskInstance is one task of a run.
type TaskInstance struct {
	TaskID    string     `json:"task_id"`
	MapIndex  int        `json:"map_index"`
	State     string     `json:"state"` // "" while not scheduled yet
	TryNumber int        `json:"try_number"`
	MaxTries  int        `json:"max_tries"`
	Operator  string     `json:"operator"`
	Pool      string     `json:"pool"`
	StartDate *time.Time `json:"start_date"`
	EndDate   *time.Time `json:"end_date"`
	Duration  *float64   `json:"duration"`
}

// TaskInstances lists the tasks of a run.
func (c *Client) TaskInstances(ctx context.Context, dagID, runID string) ([]TaskInstance, error) {
	var out []TaskInstance
	for offset := 0; ; {
		q := url.Values{"limit": {"100"}, "offset": {strconv.Itoa(offset)}}
		var resp struct {
			TIs   []TaskInstance `json:"task_instances"`
			Total int            `json:"total_entries"`
		}
		if err := c.do(ctx, http.MethodGet, "/api/v2/dags/"+esc(dagID)+"/dagRuns/"+esc(runID)+"/taskInstances", q, nil, &resp); err != nil {
			return nil, fmt.Errorf("airflow: tasks of run %s of %s: %w", runID, dagID, err)
		}
		out = append(out, resp.TIs...)
		offset += len(resp.TIs)
		if len(resp.TIs) == 0 || offset >= resp.Total {
			return out, nil
		}
	}
}

// TaskLog returns the log of one try of a task as plain text
// (GET .../taskInstances/{task}/logs/{try}?full_content=true). Airflow 3
// answers {"content": [...]} with one structured event per line
// ({"timestamp","level","event","logger","error_detail",...}); each becomes
// "TIMESTAMP LEVEL logger: event", an exception in error_detail a
// Python-style traceback, and the UI's ::group:: markers are dropped. A
// `content` that is a string (older servers) is returned as is.
func (c *Client) TaskLog(ctx context.Context, dagID, runID, taskID string, try int) (string, error) {
	if try < 1 {
		try = 1
	}
	q := url.Values{"full_content": {"true"}}
	var resp struct {
		Content json.RawMessage `json:"content"`
	}
	path := "/api/v2/dags/" + esc(dagID) + "/dagRuns/" + esc(runID) + "/taskInstances/" + esc(taskID) + "/logs/" + strconv.Itoa(try)
	if err := c.do(ctx, http.MethodGet, path, q, nil, &resp); err != nil {
		return "", fmt.Errorf("airflow: log of %s try %d in run %s of %s: %w", taskID, try, runID, dagID, err)
	}
	return renderLog(resp.Content), nil
}

type logEvent struct {
	Timestamp   *string          `json:"timestamp"`
	Event       json.RawMessage  `json:"event"`
	Level       string           `json:"level"`
	Logger      string           `json:"logger"`
	ErrorDetail []exceptionEvent `json:"error_detail"`
}

type exceptionEvent struct {
	ExcType  string `json:"exc_type"`
	ExcValue string `json:"exc_value"`
	IsCause  bool   `json:"is_cause"`
	Frames   []struct {
		Filename string `json:"filename"`
		Lineno   int    `json:"lineno"`
		Name     string `json:"name"`
	} `json:"frames"`
}

func renderLog(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		return string(raw)
	}
	var b strings.Builder
	for _, it := range items {
		var line string
		if json.Unmarshal(it, &line) == nil { // a plain string line
			b.WriteString(line)
			b.WriteByte('\n')
			continue
		}
		var e logEvent
		if json.Unmarshal(it, &e) != nil {
			b.Write(it)
			b.WriteByte('\n')
			continue
		}
		var event string
		if json.Unmarshal(e.Event, &event) != nil {
			event = string(e.Event)
		}
		if strings.HasPrefix(event, "::group::") || event == "::endgroup::" {
			continue
		}
		var parts []string
		if e.Timestamp != nil && *e.Timestamp != "" {
			parts = append(parts, *e.Timestamp)
		}
		if e.Level != "" {
			parts = append(parts, strings.ToUpper(e.Level))
		}
		if e.Logger != "" {
			parts = append(parts, e.Logger+":")
		}
		parts = append(parts, event)
		b.WriteString(strings.Join(parts, " "))
		b.WriteByte('\n')
		// Python prints the cause first; error_detail lists the raised
		// exception first.
		for i := len(e.ErrorDetail) - 1; i >= 0; i-- {
			x := e.ErrorDetail[i]
			b.WriteString("Traceback (most recent call last):\n")
			for _, f := range x.Frames {
				fmt.Fprintf(&b, "  File %q, line %d, in %s\n", f.Filename, f.Lineno, f.Name)
			}
			fmt.Fprintf(&b, "%s: %s\n", x.ExcType, x.ExcValue)
			if i > 0 {
				if e.ErrorDetail[i-1].IsCause || x.IsCause {
					b.WriteString("\nThe above exception was the direct cause of the following exception:\n\n")
				} else {
					b.WriteString("\nDuring handling of the above exception, another exception occurred:\n\n")
				}
			}
		}
	}
	return b.String()
}

// RunURL is the link to a run in Airflow 3's UI: {UIURL}/dags/{dag}/runs/{run}
// (the route of the 3.x React UI).
func (c *Client) RunURL(dagID, runID string) string {
	base := c.UIURL
	if base == "" {
		base = c.BaseURL
	}
	return strings.TrimRight(base, "/") + "/dags/" + esc(dagID) + "/runs/" + esc(runID)
}
