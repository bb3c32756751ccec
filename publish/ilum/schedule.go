package ilum

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// ScheduleSpec is a cron schedule of single runs of a job file,
// spark/<dag_id>.py.
type ScheduleSpec struct {
	Name    string // the schedule's name; one schedule per name
	Cluster string // empty: "default"
	Image   string // Spark image (jobConfig spark.kubernetes.container.image, over Resources.Conf); empty: the cluster's default
	Cron    string // passed through as it is (dialect UNCONFIRMED)
	File    string // the job file's name; uploaded as ModuleName(File)+".py"
	Content []byte // the job file
	// JobClass overrides the jobClass field; empty means the file's module
	// name (UNCONFIRMED, see the package doc).
	JobClass string
	// Args are passed as they are, before Params.
	Args []string
	// Params become "--name=value" arguments of every run (see ParamArgs).
	Params       map[string]any
	Requirements []string
	Resources    Resources
	Description  string
	Tags         map[string]string
	MaxRetries   int // Ilum's own retries of a failed run
}

// Schedule is a schedule as EnsureSchedule left it.
type Schedule struct {
	ID    string
	Name  string
	URL   string // the schedule's page in the Ilum UI (UNCONFIRMED path)
	State string // ENABLED, DISABLED or PAUSED as found; "" for a new one
	// Created: the schedule was created by this call, the first time or as
	// a replacement. Replaced: an older schedule of the same name was
	// deleted first, because its job file or cluster changed and PUT cannot
	// upload files. Updated: changed in place (PUT). All false: it already
	// matched the spec.
	Created, Replaced, Updated bool
}

type scheduleInfo struct {
	ID          string          `json:"id"`
	ScheduleID  string          `json:"scheduleId"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Tags        json.RawMessage `json:"tags"`
	State       string          `json:"state"`
	Cron        string          `json:"cron"`
}

func (s scheduleInfo) id() string { return orDefault(s.ID, s.ScheduleID) }

type schedulePlan struct {
	create, update fields
	marks          marks
	file           upload
}

func planSchedule(s ScheduleSpec) (schedulePlan, error) {
	var p schedulePlan
	if err := checkName("schedule", s.Name); err != nil {
		return p, err
	}
	if err := checkFile(s.File, s.Content); err != nil {
		return p, err
	}
	if strings.TrimSpace(s.Cron) == "" || hasControl(s.Cron) {
		return p, invalid("cron expression %q", s.Cron)
	}
	conf, err := jobConfig(s.Image, s.Resources)
	if err != nil {
		return p, err
	}
	argv, err := args(s.Args, s.Params)
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

	// The settings PUT /schedule can change (spec scheduleUpdate); empty
	// ones are sent too (UNCONFIRMED whether that clears them).
	var set fields
	set.add("cron", s.Cron)
	set.add("jobClass", orDefault(s.JobClass, ModuleName(s.File)))
	set.add("jobConfig", conf)
	set.add("args", argv)
	set.add("pyRequirements", reqs)
	set.add("maxRetries", strconv.Itoa(max(s.MaxRetries, 0)))
	set.resources(s.Resources)

	p.marks.code = digest("schedule", cluster, "PYTHON", s.File, string(s.Content))
	p.marks.spec = digest(append(append([]string{p.marks.code, s.Description}, set.digestParts()...), tagDigest(s.Tags)...)...)
	tags, err := tagsField(s.Tags, p.marks)
	if err != nil {
		return p, err
	}
	desc := describe(s.Description, p.marks)

	p.create.add("name", s.Name)
	p.create.add("clusterName", cluster)
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

// EnsureSchedule makes the schedule named s.Name run s, creating it or
// bringing it up to date, and never makes a second schedule of that name.
//
//   - No schedule of that name (GET /schedule/name/{name} is 404): create it
//     (POST /schedule).
//   - One with the same job file and cluster whose settings (cron, args,
//     parameters, requirements, resources, ...) differ: update it in place
//     (PUT /schedule/{id}).
//   - One whose job file or cluster differs: scheduleUpdate has no pyFiles,
//     so delete it and create it anew. A PAUSED or DISABLED schedule is
//     paused or stopped again after the replacement: nbpipe does not undo
//     what an operator did.
//   - One that matches: nothing is sent.
//
// As with EnsureService, nbpipe recognises its own schedules by
// fingerprints in tags and description, and calls for one name must not run
// concurrently. On error the Schedule holds what was known, such as the id
// of a schedule created but not paused again.
func (c *Client) EnsureSchedule(ctx context.Context, s ScheduleSpec) (Schedule, error) {
	sc, err := c.ensureSchedule(ctx, s)
	if err != nil {
		return sc, fmt.Errorf("ilum: ensure schedule %s: %w", s.Name, err)
	}
	return sc, nil
}

func (c *Client) ensureSchedule(ctx context.Context, s ScheduleSpec) (Schedule, error) {
	p, err := planSchedule(s)
	if err != nil {
		return Schedule{}, err
	}
	sc := Schedule{Name: s.Name}
	info, found, err := findByName[scheduleInfo](ctx, c, "schedule", s.Name)
	if err != nil {
		return sc, err
	}
	keepState := ""
	if found {
		id := info.id()
		if id == "" {
			return sc, fmt.Errorf("GET %s/schedule/name/%s: %w: no id in the answer", apiPrefix, url.PathEscape(s.Name), ErrBadResponse)
		}
		sc.ID, sc.URL, sc.State = id, c.ScheduleURL(id), info.State
		have := readMarks(info.Tags, info.Description)
		if have.code == p.marks.code {
			if have.spec == p.marks.spec {
				return sc, nil
			}
			ct, body, err := multipartBody(p.update)
			if err != nil {
				return sc, err
			}
			if err := c.do(ctx, request{http.MethodPut, "/schedule/" + url.PathEscape(id), ct, body}, nil); err != nil {
				return sc, err
			}
			sc.Updated = true
			return sc, nil
		}
		if err := c.do(ctx, request{method: http.MethodDelete, path: "/schedule/" + url.PathEscape(id)}, nil); err != nil && !NotFound(err) {
			return sc, err
		}
		keepState = strings.ToUpper(info.State)
		sc = Schedule{Name: s.Name, Replaced: true}
	}
	id, err := c.create(ctx, "schedule", "scheduleId", p.create, p.file)
	if isStatus(err, http.StatusConflict) {
		if info, found, ferr := findByName[scheduleInfo](ctx, c, "schedule", s.Name); ferr == nil && found && info.id() != "" &&
			readMarks(info.Tags, info.Description) == p.marks {
			sc.ID, sc.URL, sc.State = info.id(), c.ScheduleURL(info.id()), info.State
			return sc, nil
		}
	}
	if err != nil {
		return sc, err
	}
	sc.ID, sc.URL, sc.Created = id, c.ScheduleURL(id), true
	action := map[string]string{"PAUSED": "pause", "DISABLED": "stop"}[keepState]
	if action != "" {
		if err := c.do(ctx, request{method: http.MethodPost, path: "/schedule/" + url.PathEscape(id) + "/" + action}, nil); err != nil {
			return sc, fmt.Errorf("replaced, but keeping it %s: %w", keepState, err)
		}
		sc.State = keepState
	}
	return sc, nil
}
