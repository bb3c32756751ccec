// Package trigger runs what follows a DAG commit: Airflow loads the new
// version, nbpipe unpauses and triggers it and reports the run; Ilum gets
// the job, service or schedule. Jobs are durable (a restart resumes them) and
// keyed on what they deploy, so a re-delivered push never starts a second
// run. They run beside the push worker and never hold up intake.
package trigger

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nbpipe/nbpipe/internal/durable"
	"github.com/nbpipe/nbpipe/internal/push"
)

// Kind is what a job deploys to.
type Kind string

// The kinds of jobs: one per notebook and target.
const (
	Airflow     Kind = "airflow"
	IlumSingle  Kind = "ilum_single"
	IlumService Kind = "ilum_service"
	IlumCron    Kind = "ilum_cron"
)

// Job is one deployment of one notebook's output.
type Job struct {
	Key  string `json:"-"`
	Kind Kind   `json:"kind"`
	// Where the result is reported: the source commit that was published.
	Forge        push.Forge `json:"forge"`
	Repo         string     `json:"repo"`
	SourceCommit string     `json:"source_commit"`
	Notebook     string     `json:"notebook"`
	DagID        string     `json:"dag_id"`
	// What was published: the target commit and the output's path in it.
	TargetCommit string    `json:"target_commit"`
	File         string    `json:"file"`
	NewFile      bool      `json:"new_file,omitempty"` // the file did not exist before TargetCommit
	PublishedAt  time.Time `json:"published_at"`
	// Airflow settings.
	Scheduled bool           `json:"scheduled,omitempty"`
	Unpause   bool           `json:"unpause,omitempty"`
	Trigger   bool           `json:"trigger,omitempty"`
	Wait      bool           `json:"wait,omitempty"`
	Conf      map[string]any `json:"conf,omitempty"`
	Pools     []string       `json:"pools,omitempty"`
	// Ilum settings; Content is the job or service file.
	Content      []byte            `json:"content,omitempty"`
	Cluster      string            `json:"cluster,omitempty"`
	Image        string            `json:"image,omitempty"`
	Name         string            `json:"name,omitempty"`
	Cron         string            `json:"cron,omitempty"`
	Requirements []string          `json:"requirements,omitempty"`
	Session      map[string]any    `json:"session,omitempty"`
	SparkConf    map[string]string `json:"spark_conf,omitempty"`
	// Progress, so a restart resumes where the job was.
	RunID     string    `json:"run_id,omitempty"`
	RunURL    string    `json:"run_url,omitempty"`
	Started   bool      `json:"started,omitempty"` // the run exists; only waiting is left
	Attempts  int       `json:"attempts,omitempty"`
	NotBefore time.Time `json:"not_before,omitzero"`
	LastError string    `json:"last_error,omitempty"`
}

// ID is the job's identity: one deployment per kind, DAG and source commit.
func (j Job) ID() string {
	sum := sha256.Sum256([]byte(string(j.Kind) + "\x00" + string(j.Forge) + "\x00" + j.Repo + "\x00" + j.DagID + "\x00" + j.SourceCommit))
	return string(j.Kind) + "-" + hex.EncodeToString(sum[:12])
}

// RunID names the Airflow run of a source commit, so a re-delivery finds
// the run instead of starting another.
func RunID(sourceCommit string) string {
	if len(sourceCommit) > 12 {
		sourceCommit = sourceCommit[:12]
	}
	return "nbpipe__" + sourceCommit
}

// Queue is the durable list of jobs: pending/ until finished, then done/.
type Queue struct {
	dir string
	mu  sync.Mutex
}

// OpenQueue opens (creating) a queue in dir.
func OpenQueue(dir string) (*Queue, error) {
	for _, sub := range []string{"pending", "done", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("open trigger queue %s: %w", dir, err)
		}
	}
	return &Queue{dir: dir}, nil
}

func (q *Queue) path(sub, key string) string { return filepath.Join(q.dir, sub, key+".json") }

// Add stores new jobs durably; a job already pending or done is left alone
// (a re-delivered push). It reports how many were new.
func (q *Queue) Add(jobs ...Job) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	added := 0
	for _, j := range jobs {
		j.Key = j.ID()
		known := false
		for _, sub := range []string{"pending", "done"} {
			if _, err := os.Stat(q.path(sub, j.Key)); err == nil {
				known = true
			}
		}
		if known {
			continue
		}
		if err := q.write("pending", j); err != nil {
			return added, err
		}
		added++
	}
	return added, nil
}

func (q *Queue) write(sub string, j Job) error {
	data, err := json.Marshal(j)
	if err != nil {
		return err
	}
	if err := durable.WriteFile(q.path(sub, j.Key), filepath.Join(q.dir, "tmp", j.Key), data); err != nil {
		return fmt.Errorf("trigger queue: %w", err)
	}
	return nil
}

// Update records a job's progress.
func (q *Queue) Update(j Job) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.write("pending", j)
}

// Done retires a finished job with its final state.
func (q *Queue) Done(j Job) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := q.write("done", j); err != nil {
		return err
	}
	if err := os.Remove(q.path("pending", j.Key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("trigger queue: %w", err)
	}
	return durable.SyncDir(filepath.Join(q.dir, "pending"))
}

// Pending lists the unfinished jobs, oldest publish first.
func (q *Queue) Pending() ([]Job, error) { return q.list("pending") }

// Finished lists the finished jobs.
func (q *Queue) Finished() ([]Job, error) { return q.list("done") }

func (q *Queue) list(sub string) ([]Job, error) {
	names, err := os.ReadDir(filepath.Join(q.dir, sub))
	if err != nil {
		return nil, err
	}
	var jobs []Job
	for _, n := range names {
		key, ok := strings.CutSuffix(n.Name(), ".json")
		if !ok {
			continue
		}
		data, err := os.ReadFile(filepath.Join(q.dir, sub, n.Name()))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		var j Job
		if err := json.Unmarshal(data, &j); err != nil {
			return nil, fmt.Errorf("trigger job %s: %w", n.Name(), err)
		}
		j.Key = key
		jobs = append(jobs, j)
	}
	sort.SliceStable(jobs, func(a, b int) bool { return jobs[a].PublishedAt.Before(jobs[b].PublishedAt) })
	return jobs, nil
}
