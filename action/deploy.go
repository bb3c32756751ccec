package action

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sethvargo/go-githubactions"

	"github.com/nbpipe/nbpipe/internal/pipeline"
	"github.com/nbpipe/nbpipe/internal/push"
	"github.com/nbpipe/nbpipe/internal/trigger"
	"github.com/nbpipe/nbpipe/publish"
	"github.com/nbpipe/nbpipe/publish/airflow"
	"github.com/nbpipe/nbpipe/publish/ilum"
)

// outcome is a deployment's last reported state.
type outcome struct {
	context, notebook, desc, link string
	state                         publish.State
}

// deploy runs the deployments the published notebooks ask for, as nbpipe
// serve does, within the job: it waits for Airflow to load the commit,
// unpauses and triggers (and with wait: true follows the run), and deploys
// the Ilum targets. It writes a summary table and returns how many failed.
// Without airflow-url and ilum-url it does nothing.
func deploy(ctx context.Context, a *githubactions.Action, forge push.Forge, rep *pipeline.Report, p *pipeline.Processor, cache string, log *slog.Logger, red func(string) string) (int, error) {
	afURL, ilURL := a.GetInput("airflow-url"), a.GetInput("ilum-url")
	if afURL == "" && ilURL == "" || rep.TargetHead == "" {
		return 0, nil
	}
	timeout, err := time.ParseDuration(orDefault(a.GetInput("deploy-timeout"), "30m"))
	if err != nil || timeout <= 0 {
		return 0, fmt.Errorf("input deploy-timeout %q: want a duration such as 30m", a.GetInput("deploy-timeout"))
	}
	q, err := trigger.OpenQueue(filepath.Join(cache, "nbpipe", "triggers"))
	if err != nil {
		return 0, err
	}
	var mu sync.Mutex
	last := map[string]outcome{}
	r := &trigger.Runner{
		Queue: q, Bundle: a.GetInput("airflow-bundle"), CreatePools: true,
		LoadTimeout: 5 * time.Minute, RunTimeout: timeout,
		Contains: p.TargetContains,
		Status: func(_ context.Context, j trigger.Job, name string, st publish.State, desc, link string) {
			mu.Lock()
			defer mu.Unlock()
			last[name] = outcome{context: name, notebook: j.Notebook, desc: desc, link: link, state: st}
			log.Info("deployment", "status", name, "state", st, "description", desc)
		},
		Log: log, MaxAttempts: 3, RetryBase: 2 * time.Second, RetryMax: 30 * time.Second,
	}
	if afURL != "" {
		r.Airflow = airflow.New(afURL, trigger.AirflowAuth(a.GetInput("airflow-token"), a.GetInput("airflow-jwt-secret"),
			"nbpipe", "OP", a.GetInput("airflow-username"), a.GetInput("airflow-password")))
	}
	if ilURL != "" {
		r.Ilum = ilum.New(ilURL, a.GetInput("ilum-token"))
	}
	jobs := trigger.Jobs(forge, rep, r.Airflow != nil, r.Ilum != nil, time.Now().UTC())
	if len(jobs) == 0 {
		return 0, nil
	}
	if _, err := q.Add(jobs...); err != nil {
		return 0, err
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	drainErr := r.Drain(dctx)

	mu.Lock()
	defer mu.Unlock()
	names := make([]string, 0, len(last))
	for n := range last {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("\n#### Deployments\n\n| deployment | state | | |\n|---|---|---|---|\n")
	failed := 0
	for _, n := range names {
		o := last[n]
		link := ""
		if o.link != "" {
			link = "[open](" + o.link + ")"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", MarkdownText(o.context), o.state, MarkdownText(o.desc), link)
		if o.state != publish.StateSuccess {
			failed++
			a.WithFieldsMap(map[string]string{"file": o.notebook}).Errorf("%s", red(o.context+": "+string(o.state)+": "+o.desc))
		}
	}
	a.AddStepSummary(red(b.String()))
	if drainErr != nil {
		return failed, fmt.Errorf("deployments did not finish within deploy-timeout %s: %w", timeout, drainErr)
	}
	return failed, nil
}
