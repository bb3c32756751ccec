package trigger

import (
	"testing"
	"time"

	"github.com/nbpipe/nbpipe/convert"
	"github.com/nbpipe/nbpipe/internal/pipeline"
	"github.com/nbpipe/nbpipe/internal/push"
)

// Jobs: which notebooks of a published push become which jobs.
func TestJobsFromReport(t *testing.T) {
	conv := func(front string) *convert.Result {
		nb := `{"nbformat":4,"nbformat_minor":5,"metadata":{"kernelspec":{"name":"python3","language":"python"},"nbpipe":` + front + `},
		"cells":[{"cell_type":"code","metadata":{"tags":["parameters"]},"source":"region = \"emea\"\n"},
		{"cell_type":"code","metadata":{"tags":["pool:small"]},"source":"x = 1\n"}]}`
		res := convert.Convert("nb.ipynb", []byte(nb), convert.Options{})
		if err := res.Err(); err != nil {
			t.Fatal(err)
		}
		return res
	}
	report := func(res *convert.Result) *pipeline.Report {
		nr := pipeline.NotebookReport{Path: "nb.ipynb", DagID: res.DagID, Result: res}
		for _, f := range res.Files {
			nr.Files = append(nr.Files, "team/"+f.Path)
		}
		return &pipeline.Report{Repo: "team/nb", SourceCommit: "abc", TargetHead: "def", Notebooks: []pipeline.NotebookReport{nr}}
	}
	forge := push.Gitea
	now := time.Unix(0, 0)

	jobs := Jobs(forge, report(conv(`{"trigger": true, "wait": true, "schedule": "@daily", "mode": "per_cell"}`)), true, false, now)
	if len(jobs) != 1 {
		t.Fatalf("jobs %+v", jobs)
	}
	j := jobs[0]
	if j.Kind != Airflow || j.File != "team/dags/nb.py" || !j.Scheduled || !j.Unpause || !j.Wait || j.TargetCommit != "def" ||
		j.Conf["region"] != "emea" || len(j.Pools) != 1 || j.Pools[0] != "small" {
		t.Fatalf("airflow job %+v", j)
	}
	if n := len(Jobs(forge, report(conv(`{}`)), true, true, now)); n != 0 {
		t.Fatalf("trigger off by default, no Ilum target: %d jobs", n)
	}
	if n := len(Jobs(forge, report(conv(`{"trigger": true}`)), false, false, now)); n != 0 {
		t.Fatalf("no Airflow configured: %d jobs", n)
	}
	jobs = Jobs(forge, report(conv(`{"targets": ["ilum_single", "ilum_cron", "ilum_service"], "schedule_name": "nightly"}`)), true, true, now)
	kinds := map[Kind]Job{}
	for _, j := range jobs {
		kinds[j.Kind] = j
	}
	if len(jobs) != 3 || kinds[IlumCron].Name != "nightly" || kinds[IlumCron].Cron != "0 */6 * * *" ||
		kinds[IlumSingle].File != "team/spark/nb.py" || kinds[IlumService].File != "team/ilum/nb_service.py" ||
		len(kinds[IlumService].Content) == 0 {
		t.Fatalf("ilum jobs %+v", jobs)
	}
	failed := report(conv(`{"trigger": true}`))
	failed.Notebooks[0].Error = "broken"
	if n := len(Jobs(forge, failed, true, true, now)); n != 0 {
		t.Fatalf("a failed notebook was deployed: %d jobs", n)
	}
}
