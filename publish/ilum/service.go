package ilum

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ServiceSpec is a service group that serves a notebook's service class,
// ilum/<dag_id>_service.py.
type ServiceSpec struct {
	Name    string // the group's name; one group per name
	Cluster string // empty: "default"
	Image   string // Spark image (jobConfig spark.kubernetes.container.image, over Resources.Conf); empty: the cluster's default
	File    string // the service file's name, such as etl_service.py; uploaded as ModuleName(File)+".py"
	Content []byte // the service file
	// Class is the IlumJob subclass (convert.ServiceClassName); see
	// Group.Class for the jobClass it becomes.
	Class        string
	Requirements []string
	Resources    Resources
	Scale        int  // Spark jobs in the group; 0 means 1
	AutoPause    bool // Ilum's autoPause
	Description  string
	Tags         map[string]string
	// Config is the default parameters for ExecuteService. A group takes
	// no job parameters when it is created (facts §3.3), so EnsureService
	// does not send it.
	Config map[string]any
}

// Group is a service group as EnsureService left it.
type Group struct {
	ID    string
	Name  string
	URL   string // the group's page in the Ilum UI (UNCONFIRMED path)
	Class string // the jobClass to execute: ServiceJobClass(File, Class)
	State string // as Ilum reported it when found; "" for a new group
	// Created: the group was created by this call, the first time or as
	// a replacement. Replaced: an older group of the same name was stopped
	// and deleted first, because its code, cluster or state could not be
	// updated in place. Updated: the group's settings were changed in place
	// (PUT). All false: the group already matched the spec.
	Created, Replaced, Updated bool
}

// groupInfo is the part of the spec's groupInfo the client reads.
type groupInfo struct {
	ID          string          `json:"id"`
	GroupID     string          `json:"groupId"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Tags        json.RawMessage `json:"tags"`
	State       string          `json:"state"`
	ClusterName string          `json:"clusterName"`
}

func (g groupInfo) id() string { return orDefault(g.ID, g.GroupID) }

// servicePlan is what EnsureService sends.
type servicePlan struct {
	create, update fields
	marks          marks
	file           upload
	class          string
}

func planService(s ServiceSpec) (servicePlan, error) {
	var p servicePlan
	if err := checkName("group", s.Name); err != nil {
		return p, err
	}
	if err := checkFile(s.File, s.Content); err != nil {
		return p, err
	}
	if s.Class == "" || hasControl(s.Class) {
		return p, invalid("service class %q: want the IlumJob subclass's name", s.Class)
	}
	conf, err := jobConfig(s.Image, s.Resources)
	if err != nil {
		return p, err
	}
	reqs, err := list("requirement", s.Requirements)
	if err != nil {
		return p, err
	}
	if _, err := keyValues("tag", s.Tags); err != nil {
		return p, err
	}
	cluster := orDefault(s.Cluster, DefaultCluster)
	scale := max(s.Scale, 1)

	// The settings PUT /group can change (spec groupUpdate). Empty ones are
	// sent too, so that a removed setting is sent as removed (UNCONFIRMED
	// whether that clears it).
	var set fields
	set.add("jobConfig", conf)
	set.add("pyRequirements", reqs)
	set.add("scale", strconv.Itoa(scale))
	set.add("autoPause", strconv.FormatBool(s.AutoPause))
	set.resources(s.Resources)

	p.class = ServiceJobClass(s.File, s.Class)
	p.marks.code = digest("group", cluster, "JOB", "PYTHON", s.File, string(s.Content))
	p.marks.spec = digest(append(append([]string{p.marks.code, s.Description}, set.digestParts()...), tagDigest(s.Tags)...)...)
	tags, err := tagsField(s.Tags, p.marks)
	if err != nil {
		return p, err
	}
	desc := describe(s.Description, p.marks)

	p.create.add("name", s.Name)
	p.create.add("clusterName", cluster)
	p.create.add("kind", "JOB")
	p.create.add("language", "PYTHON")
	p.create.add("description", desc)
	p.create.add("tags", tags)
	for _, f := range set {
		p.create.addIf(f.name, f.value)
	}
	p.update.add("description", desc)
	p.update.add("tags", tags)
	p.update = append(p.update, set...)
	p.file = pyUpload(s.File, s.Content)
	return p, nil
}

func tagDigest(tags map[string]string) []string {
	s, _ := keyValues("tag", tags)
	return []string{"tags", s}
}

// EnsureService makes the group named s.Name serve s, creating it or
// bringing it up to date, and never makes a second group of that name.
//
//   - No group of that name (GET /group/name/{name} is 404): create it
//     (POST /group).
//   - A group with the same code (file, cluster) whose settings differ:
//     update it in place (PUT /group/{id}).
//   - A group whose code differs, or that is ARCHIVED: the API cannot
//     replace a group's files (groupUpdate has no pyFiles), so stop it,
//     delete it, and create it anew.
//   - A group that matches: nothing is sent.
//
// nbpipe recognises its own deployments by fingerprints it writes into the
// group's tags and description; a group of the same name without them
// (made by hand, or if Ilum does not echo them: UNCONFIRMED) is replaced.
// Calls for one name must not run concurrently: two creates could race.
// On error the Group holds what was known, such as the id of a group found.
func (c *Client) EnsureService(ctx context.Context, s ServiceSpec) (Group, error) {
	g, err := c.ensureService(ctx, s)
	if err != nil {
		return g, fmt.Errorf("ilum: ensure service %s: %w", s.Name, err)
	}
	return g, nil
}

func (c *Client) ensureService(ctx context.Context, s ServiceSpec) (Group, error) {
	p, err := planService(s)
	if err != nil {
		return Group{}, err
	}
	g := Group{Name: s.Name, Class: p.class}
	info, found, err := findByName[groupInfo](ctx, c, "group", s.Name)
	if err != nil {
		return g, err
	}
	if found {
		id := info.id()
		if id == "" {
			return g, fmt.Errorf("GET %s/group/name/%s: %w: no id in the answer", apiPrefix, url.PathEscape(s.Name), ErrBadResponse)
		}
		g.ID, g.URL, g.State = id, c.GroupURL(id), info.State
		have := readMarks(info.Tags, info.Description)
		switch {
		case have.code == p.marks.code && !strings.EqualFold(info.State, "ARCHIVED"):
			if have.spec == p.marks.spec {
				return g, nil
			}
			ct, body, err := multipartBody(p.update)
			if err != nil {
				return g, err
			}
			if err := c.do(ctx, request{http.MethodPut, "/group/" + url.PathEscape(id), ct, body}, nil); err != nil {
				return g, err
			}
			g.Updated = true
			return g, nil
		default:
			if err := c.removeGroup(ctx, id, info.State); err != nil {
				return g, err
			}
			g.Replaced = true
			g.ID, g.URL, g.State = "", "", ""
		}
	}
	id, err := c.create(ctx, "group", "groupId", p.create, p.file)
	if isStatus(err, http.StatusConflict) {
		// The name is taken after all: a create that raced this one, or an
		// answer lost on the way back. Take the group if it is this spec.
		if info, found, ferr := findByName[groupInfo](ctx, c, "group", s.Name); ferr == nil && found && info.id() != "" &&
			readMarks(info.Tags, info.Description) == p.marks && !strings.EqualFold(info.State, "ARCHIVED") {
			g.ID, g.URL, g.State = info.id(), c.GroupURL(info.id()), info.State
			return g, nil
		}
	}
	if err != nil {
		return g, err
	}
	g.ID, g.URL, g.Created = id, c.GroupURL(id), true
	return g, nil
}

// removeGroup stops (unless ARCHIVED) and deletes a group. A group that is
// already gone is fine.
func (c *Client) removeGroup(ctx context.Context, id, state string) error {
	p := "/group/" + url.PathEscape(id)
	if !strings.EqualFold(state, "ARCHIVED") {
		err := c.do(ctx, request{method: http.MethodPost, path: p + "/stop"}, nil)
		switch {
		case NotFound(err):
			return nil
		case err != nil && !Permanent(err):
			return err
		}
		// Another 4xx (already stopping, say): the delete decides.
	}
	if err := c.do(ctx, request{method: http.MethodDelete, path: p}, nil); err != nil && !NotFound(err) {
		return err
	}
	return nil
}

// Execution is one execution of a service class in a group.
type Execution struct {
	InstanceID string
	JobID      string
	GroupID    string
	Class      string
	Config     map[string]any
	Result     string // what run(spark, config) returned
	Error      string // the job's error message, "" on success
	StackTrace string
	Start, End time.Time // zero when Ilum did not say
	URL        string    // the group's page in the Ilum UI
}

// ExecuteService runs class in the group and waits for its result:
// POST /api/v1/group/{groupId}/job/execute (facts §3.3). config is passed to
// run(spark, config) as it is; nil sends {}. A job that reports an error
// returns the Execution and an *ExecutionError (not Permanent).
func (c *Client) ExecuteService(ctx context.Context, groupID, class string, config map[string]any) (Execution, error) {
	e, err := c.executeService(ctx, groupID, class, config)
	if err != nil {
		return e, fmt.Errorf("ilum: execute %s in group %s: %w", class, groupID, err)
	}
	return e, nil
}

func (c *Client) executeService(ctx context.Context, groupID, class string, config map[string]any) (Execution, error) {
	if groupID == "" || strings.ContainsAny(groupID, "/\\") || hasControl(groupID) {
		return Execution{}, invalid("group id %q", groupID)
	}
	if class == "" || hasControl(class) {
		return Execution{}, invalid("job class %q", class)
	}
	if config == nil {
		config = map[string]any{}
	}
	body, err := json.Marshal(map[string]any{
		"type":      "interactive_job_execute",
		"jobClass":  class,
		"jobConfig": config,
	})
	if err != nil {
		return Execution{}, invalid("job config: %v", err)
	}
	var out struct {
		JobInstanceID string         `json:"jobInstanceId"`
		JobID         string         `json:"jobId"`
		GroupID       string         `json:"groupId"`
		StartTime     int64          `json:"startTime"`
		EndTime       int64          `json:"endTime"`
		JobClass      string         `json:"jobClass"`
		JobConfig     map[string]any `json:"jobConfig"`
		Result        *string        `json:"result"`
		Error         *struct {
			Message    string `json:"message"`
			StackTrace string `json:"stackTrace"`
		} `json:"error"`
	}
	path := "/group/" + url.PathEscape(groupID) + "/job/execute"
	if err := c.do(ctx, request{http.MethodPost, path, "application/json", body}, &out); err != nil {
		return Execution{}, err
	}
	e := Execution{
		InstanceID: out.JobInstanceID,
		JobID:      out.JobID,
		GroupID:    orDefault(out.GroupID, groupID),
		Class:      orDefault(out.JobClass, class),
		Config:     out.JobConfig,
		Start:      millis(out.StartTime),
		End:        millis(out.EndTime),
		URL:        c.GroupURL(groupID),
	}
	if out.Result != nil {
		e.Result = *out.Result
	}
	if out.Error != nil && (out.Error.Message != "" || out.Error.StackTrace != "") {
		e.Error, e.StackTrace = out.Error.Message, out.Error.StackTrace
		return e, &ExecutionError{Message: excerpt(orDefault(e.Error, "(no message)"), c.Token), StackTrace: e.StackTrace}
	}
	if e.InstanceID == "" && out.Result == nil {
		return e, fmt.Errorf("POST %s%s: %w: neither jobInstanceId nor result in the answer", apiPrefix, path, ErrBadResponse)
	}
	return e, nil
}

func millis(ms int64) time.Time {
	if ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}
