package trigger

import (
	"testing"
	"time"

	"github.com/nbpipe/nbpipe/webhook"
)

// The queue keeps jobs across restarts, adds a re-delivered job only once,
// and keeps progress (the run a job started) so a restart only waits.
func TestQueueDurableAndIdempotent(t *testing.T) {
	dir := t.TempDir()
	q, err := OpenQueue(dir)
	if err != nil {
		t.Fatal(err)
	}
	j := Job{Kind: Airflow, Forge: webhook.Gitea, Repo: "acme/nb", SourceCommit: "0123456789abcdef", DagID: "etl", PublishedAt: time.Unix(10, 0)}
	other := j
	other.DagID = "other"
	if n, err := q.Add(j, other); n != 2 || err != nil {
		t.Fatalf("add: %d %v", n, err)
	}
	if n, _ := q.Add(j); n != 0 {
		t.Fatal("a re-delivered job was added again")
	}
	jobs, _ := q.Pending()
	jobs[0].Started, jobs[0].RunID = true, RunID(j.SourceCommit)
	if err := q.Update(jobs[0]); err != nil {
		t.Fatal(err)
	}
	q2, _ := OpenQueue(dir)
	jobs, _ = q2.Pending()
	if len(jobs) != 2 {
		t.Fatalf("after reopen: %d jobs", len(jobs))
	}
	var started Job
	for _, x := range jobs {
		if x.Started {
			started = x
		}
	}
	if started.RunID != "nbpipe__0123456789ab" {
		t.Fatalf("progress lost: %+v", started)
	}
	if err := q2.Done(started); err != nil {
		t.Fatal(err)
	}
	if n, _ := q2.Add(j); n != 0 {
		t.Fatal("a finished job was added again")
	}
	if done, _ := q2.Finished(); len(done) != 1 {
		t.Fatalf("finished: %d", len(done))
	}
	if StatusContext(j) != "nbpipe/airflow/etl" || StatusContext(Job{Kind: IlumCron, DagID: "x"}) != "nbpipe/ilum/x" {
		t.Fatal("status contexts")
	}
}
