package ilum

// This file is the contract server of the TestContract... tests: an
// in-memory ilum-core written from the documented contract, not a live Ilum.
// Its facts come from /work/shared/api-facts.md §3 and from
// ilum-doc:api/ilum-1.5.3.yaml (the groupUpdate and scheduleUpdate schemas,
// which the facts sheet does not list); see the package doc for the list and
// for what is UNCONFIRMED. It checks every request against that contract
// (method, path, Content-Type, multipart field names and values, file parts,
// JSON shapes, the bearer token) and answers as the documentation says:
// {"jobId"}, {"groupId"}, {"scheduleId"}, groupInfo, scheduleInfo,
// groupJobInstanceInfo, empty 200s, and {"message"} with 404 and 409.

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// fields each endpoint accepts (spec jobCreation, groupCreation,
// groupUpdate, scheduleCreation, scheduleUpdate).
var (
	resourceFields = []string{"executors", "driverCores", "executorCores", "driverMemory", "executorMemory",
		"dynamicAllocation", "initialExecutors", "minExecutors", "maxExecutors"}
	jobSubmitFields = append([]string{"name", "tags", "language", "clusterName", "jobClass", "jobConfig",
		"pyRequirements", "packages", "args", "maxRetries"}, resourceFields...)
	groupCreateFields = append([]string{"name", "description", "kind", "tags", "language", "clusterName",
		"jobConfig", "pyRequirements", "packages", "scale", "autoPause"}, resourceFields...)
	groupUpdateFields = append([]string{"description", "tags", "jobConfig", "pyRequirements", "packages",
		"scale", "autoPause"}, resourceFields...)
	scheduleCreateFields = append([]string{"name", "description", "cron", "tags", "language", "clusterName",
		"jobConfig", "jobClass", "args", "pyRequirements", "packages", "startTime", "endTime", "maxRetries"}, resourceFields...)
	scheduleUpdateFields = append([]string{"description", "tags", "jobConfig", "cron", "args", "jobClass",
		"pyRequirements", "packages", "startTime", "endTime", "maxRetries"}, resourceFields...)
	fileFields = []string{"jars", "files", "pyFiles"}
)

var (
	kvListRe   = regexp.MustCompile(`^[^=;]+=[^;]*(;[^=;]+=[^;]*)*$`) // "k=v;k2=v2" (facts §3.1)
	memoryRe   = regexp.MustCompile(`^\d+[kmgtKMGT][bB]?$`)           // JVM memory string (spec)
	intFields  = map[string]bool{"executors": true, "driverCores": true, "executorCores": true, "scale": true, "maxRetries": true, "initialExecutors": true, "minExecutors": true, "maxExecutors": true}
	boolFields = map[string]bool{"autoPause": true, "dynamicAllocation": true}
)

type fakeFile struct {
	Field, Name string
	Data        []byte
}

// call is one request the server accepted, as parsed.
type call struct {
	Method, Path, Query string
	Auth                string
	ContentType         string
	Form                map[string]string
	Order               []string // text field names in sending order
	Files               []fakeFile
	JSON                map[string]any
}

func (c call) String() string { return c.Method + " " + c.Path }

type fakeGroup struct {
	ID, Name, Cluster, State, Description, Tags string
	Form                                        map[string]string
	Files                                       []fakeFile
}

type fakeSchedule struct {
	ID, Name, Cluster, State, Description, Tags, Cron string
	Form                                              map[string]string
	Files                                             []fakeFile
}

type fakeIlum struct {
	t     *testing.T
	srv   *httptest.Server
	token string // the bearer the server expects; "" means none may be sent
	// tagStyle is how groupInfo/scheduleInfo echo tags: "string" (the
	// spec's type), "object" (newer Ilum), "list" of "k=v" (older Ilum),
	// or "none" (not echoed).
	tagStyle string
	// dropDescription: the info objects carry no description either.
	dropDescription bool

	mu        sync.Mutex
	seq       int
	calls     []call
	groups    map[string]*fakeGroup
	schedules map[string]*fakeSchedule
	jobs      map[string]call
	// fail answers the next request to "METHOD path" with a status and body.
	fail map[string]struct {
		status int
		body   string
	}
	// execError makes execute report this job error.
	execError string
}

func newFakeIlum(t *testing.T, token string) *fakeIlum {
	t.Helper()
	f := &fakeIlum{t: t, token: token, tagStyle: "string",
		groups: map[string]*fakeGroup{}, schedules: map[string]*fakeSchedule{}, jobs: map[string]call{},
		fail: map[string]struct {
			status int
			body   string
		}{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeIlum) failNext(method, path string, status int, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail[method+" "+path] = struct {
		status int
		body   string
	}{status, body}
}

func (f *fakeIlum) takeCalls() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

func (f *fakeIlum) nextID(prefix string) string {
	f.seq++
	return fmt.Sprintf("%s-%04d", prefix, f.seq)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func message(w http.ResponseWriter, status int, format string, args ...any) {
	writeJSON(w, status, map[string]string{"message": fmt.Sprintf(format, args...)})
}

// violation reports a request that breaks the contract and answers 400.
func (f *fakeIlum) violation(w http.ResponseWriter, r *http.Request, format string, args ...any) {
	f.t.Helper()
	msg := fmt.Sprintf(format, args...)
	f.t.Errorf("contract violation in %s %s: %s", r.Method, r.URL.Path, msg)
	message(w, http.StatusBadRequest, "contract violation: %s", msg)
}

func (f *fakeIlum) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := call{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Auth: r.Header.Get("Authorization"), ContentType: r.Header.Get("Content-Type")}

	// Authentication (UNCONFIRMED scheme): a bearer exactly when configured.
	switch {
	case f.token == "" && c.Auth != "":
		f.violation(w, r, "Authorization %q sent without a token", c.Auth)
		return
	case f.token != "" && c.Auth != "Bearer "+f.token:
		message(w, http.StatusUnauthorized, "unauthorized")
		f.t.Errorf("%s %s: Authorization %q, want the bearer token", r.Method, r.URL.Path, c.Auth)
		return
	}
	if r.URL.RawQuery != "" {
		f.violation(w, r, "unexpected query %q", r.URL.RawQuery)
		return
	}
	if fl, ok := f.fail[r.Method+" "+r.URL.Path]; ok {
		delete(f.fail, r.Method+" "+r.URL.Path)
		f.calls = append(f.calls, c)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(fl.status)
		_, _ = io.WriteString(w, fl.body)
		return
	}

	p, ok := strings.CutPrefix(r.URL.Path, "/api/v1/")
	if !ok {
		f.violation(w, r, "path outside /api/v1")
		return
	}
	seg := strings.Split(p, "/")
	route := r.Method + " " + pattern(seg)
	switch route {
	case "POST job/submit":
		if !f.parseMultipart(w, r, &c, jobSubmitFields, []string{"name", "clusterName"}) {
			return
		}
		f.calls = append(f.calls, c)
		id := f.nextID("job")
		f.jobs[id] = c
		writeJSON(w, 200, map[string]string{"jobId": id})

	case "GET group/name/*":
		f.calls = append(f.calls, c)
		for _, g := range f.groups {
			if g.Name == seg[2] {
				writeJSON(w, 200, f.groupInfo(g))
				return
			}
		}
		message(w, 404, "Group with name %s not found", seg[2])

	case "POST group":
		if !f.parseMultipart(w, r, &c, groupCreateFields, []string{"name", "clusterName"}) {
			return
		}
		f.calls = append(f.calls, c)
		for _, g := range f.groups {
			if g.Name == c.Form["name"] {
				message(w, 409, "Group with name %s already exists", g.Name)
				return
			}
		}
		g := &fakeGroup{ID: f.nextID("group"), Name: c.Form["name"], Cluster: c.Form["clusterName"], State: "ACTIVE",
			Description: c.Form["description"], Tags: c.Form["tags"], Form: c.Form, Files: c.Files}
		f.groups[g.ID] = g
		writeJSON(w, 200, map[string]string{"groupId": g.ID})

	case "PUT group/*":
		if !f.parseMultipart(w, r, &c, groupUpdateFields, nil) {
			return
		}
		f.calls = append(f.calls, c)
		g := f.groups[seg[1]]
		if g == nil {
			message(w, 404, "Group %s not found", seg[1])
			return
		}
		if len(c.Files) > 0 {
			f.violation(w, r, "groupUpdate has no file parts")
			return
		}
		for k, v := range c.Form {
			g.Form[k] = v
		}
		g.Description, g.Tags = c.Form["description"], c.Form["tags"]
		w.WriteHeader(200)

	case "POST group/*/stop":
		f.calls = append(f.calls, c)
		g := f.groups[seg[1]]
		if g == nil {
			message(w, 404, "Group %s not found", seg[1])
			return
		}
		g.State = "ARCHIVED"
		w.WriteHeader(200)

	case "DELETE group/*":
		f.calls = append(f.calls, c)
		if f.groups[seg[1]] == nil {
			message(w, 404, "Group %s not found", seg[1])
			return
		}
		delete(f.groups, seg[1])
		w.WriteHeader(200)

	case "POST group/*/job/execute":
		f.execute(w, r, &c, seg[1])

	case "GET schedule/name/*":
		f.calls = append(f.calls, c)
		for _, s := range f.schedules {
			if s.Name == seg[2] {
				writeJSON(w, 200, f.scheduleInfo(s))
				return
			}
		}
		message(w, 404, "Schedule with name %s not found", seg[2])

	case "POST schedule":
		if !f.parseMultipart(w, r, &c, scheduleCreateFields, []string{"name", "clusterName", "cron", "jobClass"}) {
			return
		}
		f.calls = append(f.calls, c)
		for _, s := range f.schedules {
			if s.Name == c.Form["name"] {
				message(w, 409, "Schedule with name %s already exists", s.Name)
				return
			}
		}
		s := &fakeSchedule{ID: f.nextID("schedule"), Name: c.Form["name"], Cluster: c.Form["clusterName"], State: "ENABLED",
			Description: c.Form["description"], Tags: c.Form["tags"], Cron: c.Form["cron"], Form: c.Form, Files: c.Files}
		f.schedules[s.ID] = s
		writeJSON(w, 200, map[string]string{"scheduleId": s.ID})

	case "PUT schedule/*":
		if !f.parseMultipart(w, r, &c, scheduleUpdateFields, nil) {
			return
		}
		f.calls = append(f.calls, c)
		s := f.schedules[seg[1]]
		if s == nil {
			message(w, 404, "Schedule %s not found", seg[1])
			return
		}
		if len(c.Files) > 0 {
			f.violation(w, r, "scheduleUpdate has no file parts")
			return
		}
		for k, v := range c.Form {
			s.Form[k] = v
		}
		s.Description, s.Tags = c.Form["description"], c.Form["tags"]
		if v, ok := c.Form["cron"]; ok {
			s.Cron = v
		}
		w.WriteHeader(200)

	case "POST schedule/*/pause", "POST schedule/*/stop":
		f.calls = append(f.calls, c)
		s := f.schedules[seg[1]]
		if s == nil {
			message(w, 404, "Schedule %s not found", seg[1])
			return
		}
		s.State = map[string]string{"pause": "PAUSED", "stop": "DISABLED"}[seg[2]]
		w.WriteHeader(200)

	case "DELETE schedule/*":
		f.calls = append(f.calls, c)
		if f.schedules[seg[1]] == nil {
			message(w, 404, "Schedule %s not found", seg[1])
			return
		}
		delete(f.schedules, seg[1])
		w.WriteHeader(200)

	default:
		f.violation(w, r, "no such endpoint in the contract")
	}
}

// pattern turns ids into "*": group/g-1/stop -> group/*/stop.
func pattern(seg []string) string {
	out := append([]string{}, seg...)
	switch {
	case len(out) >= 3 && out[1] == "name":
		out[2] = "*"
	case len(out) >= 2 && (out[0] == "group" || out[0] == "schedule"):
		out[1] = "*"
	}
	return strings.Join(out, "/")
}

// parseMultipart checks the Content-Type and every part, and fills c.
func (f *fakeIlum) parseMultipart(w http.ResponseWriter, r *http.Request, c *call, allowed, required []string) bool {
	f.t.Helper()
	mt, params, err := mime.ParseMediaType(c.ContentType)
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		f.violation(w, r, "Content-Type %q, want multipart/form-data with a boundary", c.ContentType)
		return false
	}
	c.Form = map[string]string{}
	mr := multipart.NewReader(r.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			f.violation(w, r, "bad multipart body: %v", err)
			return false
		}
		data, err := io.ReadAll(part)
		if err != nil {
			f.violation(w, r, "bad part: %v", err)
			return false
		}
		name := part.FormName()
		if part.FileName() != "" {
			if !contains(fileFields, name) {
				f.violation(w, r, "file part %q: the contract has only jars, files, pyFiles", name)
				return false
			}
			c.Files = append(c.Files, fakeFile{Field: name, Name: part.FileName(), Data: data})
			continue
		}
		if !contains(allowed, name) {
			f.violation(w, r, "field %q is not in the contract of this endpoint", name)
			return false
		}
		if _, dup := c.Form[name]; dup {
			f.violation(w, r, "field %q sent twice", name)
			return false
		}
		if msg := checkValue(name, string(data)); msg != "" {
			f.violation(w, r, "field %s=%q: %s", name, data, msg)
			return false
		}
		c.Form[name] = string(data)
		c.Order = append(c.Order, name)
	}
	for _, req := range required {
		if c.Form[req] == "" {
			message(w, 409, "Field %s is required", req)
			f.t.Errorf("%s %s: required field %q missing", r.Method, r.URL.Path, req)
			return false
		}
	}
	return true
}

// checkValue checks a text field's format as the spec describes it.
func checkValue(name, v string) string {
	switch {
	case v == "" && (name == "jobConfig" || name == "pyRequirements" || name == "args" || name == "description"):
		return "" // an empty update field (UNCONFIRMED whether it clears)
	case intFields[name]:
		if _, err := strconv.Atoi(v); err != nil {
			return "want an integer string"
		}
	case boolFields[name]:
		if v != "true" && v != "false" {
			return `want "true" or "false"`
		}
	case name == "driverMemory" || name == "executorMemory":
		if !memoryRe.MatchString(v) {
			return "want a JVM memory string such as 2g"
		}
	case name == "language":
		if v != "SCALA" && v != "PYTHON" {
			return "want SCALA or PYTHON"
		}
	case name == "kind":
		if v != "JOB" && v != "CODE" {
			return "want JOB or CODE"
		}
	case name == "jobConfig" || name == "tags":
		if !kvListRe.MatchString(v) {
			return `want "k=v;k2=v2"`
		}
	case name == "pyRequirements" || name == "args":
		for _, it := range strings.Split(v, ";") {
			if it == "" {
				return "empty entry in a ';' list"
			}
		}
	case name == "name" || name == "clusterName" || name == "cron" || name == "jobClass":
		if strings.TrimSpace(v) == "" {
			return "empty"
		}
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (f *fakeIlum) tags(s string) any {
	switch f.tagStyle {
	case "object":
		m := map[string]string{}
		for _, kv := range strings.Split(s, ";") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				m[k] = v
			}
		}
		return m
	case "list": // older Ilum versions, as the seed's client reads them
		return strings.Split(s, ";")
	case "none":
		return nil
	}
	return s
}

func (f *fakeIlum) desc(s string) string {
	if f.dropDescription {
		return ""
	}
	return s
}

func (f *fakeIlum) groupInfo(g *fakeGroup) map[string]any {
	scale, _ := strconv.Atoi(g.Form["scale"])
	m := map[string]any{"id": g.ID, "name": g.Name, "description": f.desc(g.Description), "kind": "JOB",
		"language": "PYTHON", "clusterName": g.Cluster, "state": g.State, "scale": scale,
		"jobConfig": map[string]any{}, "pyRequirements": g.Form["pyRequirements"], "createdTime": 1764500000000,
		"autoPause": g.Form["autoPause"] == "true", "jobs": []any{}}
	if t := f.tags(g.Tags); t != nil {
		m["tags"] = t
	}
	return m
}

func (f *fakeIlum) scheduleInfo(s *fakeSchedule) map[string]any {
	m := map[string]any{"id": s.ID, "name": s.Name, "description": f.desc(s.Description), "cron": s.Cron,
		"language": "PYTHON", "clusterName": s.Cluster, "state": s.State, "jobClass": s.Form["jobClass"],
		"args": strings.Split(s.Form["args"], ";"), "jobConfig": map[string]any{}, "createdTime": 1764500000000, "jobs": []any{}}
	if t := f.tags(s.Tags); t != nil {
		m["tags"] = t
	}
	return m
}

// execute answers like POST /group/{id}/job/execute: the JSON body must be
// {"type":"interactive_job_execute","jobClass":...,"jobConfig":{...}}.
func (f *fakeIlum) execute(w http.ResponseWriter, r *http.Request, c *call, id string) {
	f.t.Helper()
	if mt, _, _ := mime.ParseMediaType(c.ContentType); mt != "application/json" {
		f.violation(w, r, "Content-Type %q, want application/json", c.ContentType)
		return
	}
	if err := json.NewDecoder(r.Body).Decode(&c.JSON); err != nil {
		f.violation(w, r, "body is not a JSON object: %v", err)
		return
	}
	f.calls = append(f.calls, *c)
	keys := make([]string, 0, len(c.JSON))
	for k := range c.JSON {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if strings.Join(keys, ",") != "jobClass,jobConfig,type" {
		f.violation(w, r, "keys %v, want type, jobClass, jobConfig", keys)
		return
	}
	if c.JSON["type"] != "interactive_job_execute" {
		f.violation(w, r, "type %v", c.JSON["type"])
		return
	}
	class, _ := c.JSON["jobClass"].(string)
	config, ok := c.JSON["jobConfig"].(map[string]any)
	if class == "" || !ok {
		f.violation(w, r, "jobClass must be a string and jobConfig an object")
		return
	}
	g := f.groups[id]
	if g == nil {
		message(w, 404, "Group %s not found", id)
		return
	}
	if g.State != "ACTIVE" {
		message(w, 409, "Group %s is %s", id, g.State)
		return
	}
	out := map[string]any{"jobInstanceId": f.nextID("instance"), "jobId": g.ID + "-job-1", "groupId": g.ID,
		"startTime": 1764500000000, "endTime": 1764500004000, "jobClass": class, "jobConfig": config}
	// The class must live in an uploaded module (the UNCONFIRMED
	// "<module>.<Class>" form): otherwise the job fails, as Python would.
	module, _, _ := strings.Cut(class, ".")
	found := false
	for _, file := range g.Files {
		found = found || file.Field == "pyFiles" && strings.TrimSuffix(file.Name, ".py") == module
	}
	switch {
	case !found:
		out["error"] = map[string]any{"message": "ModuleNotFoundError: No module named '" + module + "'", "stackTrace": "Traceback ..."}
	case f.execError != "":
		out["error"] = map[string]any{"message": f.execError, "stackTrace": "Traceback (most recent call last): ..."}
	default:
		res, _ := json.Marshal(map[string]any{"status": "ok", "params": config})
		out["result"] = string(res)
	}
	writeJSON(w, 200, out)
}
