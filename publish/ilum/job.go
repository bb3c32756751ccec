package ilum

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
)

// JobSpec is one single (batch) run of a job file, spark/<dag_id>.py.
type JobSpec struct {
	Name    string // the job's name in Ilum
	Cluster string // empty: "default"
	Image   string // Spark image (jobConfig spark.kubernetes.container.image, over Resources.Conf); empty: the cluster's default
	File    string // the job file's name, such as daily_kpi.py; uploaded as ModuleName(File)+".py"
	Content []byte // the job file
	// JobClass overrides the jobClass field; empty means the file's module
	// name (UNCONFIRMED, see the package doc).
	JobClass string
	// Args are passed as they are, before Params.
	Args []string
	// Params become "--name=value" arguments (see ParamArgs).
	Params       map[string]any
	Requirements []string // pip requirements, "pandas==2.0.0"
	Resources    Resources
	Tags         map[string]string
	MaxRetries   int // Ilum's own retries; 0 leaves the server default (0)
}

// Job is a submitted job.
type Job struct {
	ID  string
	URL string // the job's page in the Ilum UI
}

// SubmitJob submits a single job: POST /api/v1/job/submit (facts §3.2).
// Every call submits a new job; the caller decides about retries.
func (c *Client) SubmitJob(ctx context.Context, s JobSpec) (Job, error) {
	j, err := c.submitJob(ctx, s)
	if err != nil {
		return Job{}, fmt.Errorf("ilum: submit job %s: %w", s.Name, err)
	}
	return j, nil
}

func (c *Client) submitJob(ctx context.Context, s JobSpec) (Job, error) {
	if err := checkName("job", s.Name); err != nil {
		return Job{}, err
	}
	if err := checkFile(s.File, s.Content); err != nil {
		return Job{}, err
	}
	conf, err := jobConfig(s.Image, s.Resources)
	if err != nil {
		return Job{}, err
	}
	argv, err := args(s.Args, s.Params)
	if err != nil {
		return Job{}, err
	}
	reqs, err := list("requirement", s.Requirements)
	if err != nil {
		return Job{}, err
	}
	tags, err := keyValues("tag", s.Tags)
	if err != nil {
		return Job{}, err
	}
	var fs fields
	fs.add("name", s.Name)
	fs.add("clusterName", orDefault(s.Cluster, DefaultCluster))
	fs.add("language", "PYTHON")
	fs.add("jobClass", orDefault(s.JobClass, ModuleName(s.File)))
	fs.addIf("jobConfig", conf)
	fs.addIf("args", argv)
	fs.addIf("pyRequirements", reqs)
	fs.addIf("tags", tags)
	if s.MaxRetries > 0 {
		fs.add("maxRetries", strconv.Itoa(s.MaxRetries))
	}
	fs.resources(s.Resources)
	ct, body, err := multipartBody(fs, pyUpload(s.File, s.Content))
	if err != nil {
		return Job{}, err
	}
	var out struct {
		JobID string `json:"jobId"`
	}
	if err := c.do(ctx, request{http.MethodPost, "/job/submit", ct, body}, &out); err != nil {
		return Job{}, err
	}
	if out.JobID == "" {
		return Job{}, fmt.Errorf("POST %s/job/submit: %w: no jobId in the answer", apiPrefix, ErrBadResponse)
	}
	return Job{ID: out.JobID, URL: c.JobURL(out.JobID)}, nil
}
