// Package action is the GitHub/Gitea Actions entrypoint: the same pipeline as
// the webhook server, run on the forge's own runner for the push that
// triggered the workflow.
package action

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/sethvargo/go-githubactions"

	"github.com/nbpipe/nbpipe/convert"
	"github.com/nbpipe/nbpipe/internal/pipeline"
	"github.com/nbpipe/nbpipe/internal/redact"
	"github.com/nbpipe/nbpipe/preview"
	"github.com/nbpipe/nbpipe/publish"
	"github.com/nbpipe/nbpipe/webhook"
)

// Run converts and publishes the notebooks of the push in the run's event
// file. It sets the outputs target-commit, converted and failed, writes the
// report as the step summary, and fails the step when a notebook failed
// (after publishing the others).
//
// Nothing it prints holds a token: the tokens it is given and the
// credentials of any URL are scrubbed from its error, its log, its
// workflow commands and its summary.
func Run(ctx context.Context, a *githubactions.Action, getenv func(string) string, log *slog.Logger) error {
	red := redact.New(a.GetInput("token"), a.GetInput("target-token"), getenv("GITHUB_TOKEN"), getenv("GITEA_TOKEN"),
		a.GetInput("airflow-token"), a.GetInput("airflow-jwt-secret"), a.GetInput("airflow-password"), a.GetInput("ilum-token"))
	if err := run(ctx, a, getenv, slog.New(red.Handler(log.Handler())), red); err != nil {
		return errors.New(red.Text(err.Error()))
	}
	return nil
}

func run(ctx context.Context, a *githubactions.Action, getenv func(string) string, log *slog.Logger, red redact.Scrubber) error {
	gh, err := a.Context()
	if err != nil {
		return fmt.Errorf("read the Actions context: %w", err)
	}
	switch gh.EventName {
	case "push":
	case "pull_request", "pull_request_target":
		return runPreview(ctx, a, gh, getenv, log, red)
	default:
		a.Infof("nbpipe runs on push and pull_request events; %q ignored", red.Text(gh.EventName))
		return nil
	}
	body, err := os.ReadFile(gh.EventPath)
	if err != nil {
		return fmt.Errorf("read the event file %s: %w", gh.EventPath, err)
	}
	forge := webhook.GitHub
	if getenv("GITEA_ACTIONS") == "true" {
		forge = webhook.Gitea
	}
	// go-github's push type reads both forges' payloads; Gitea's lacks only
	// fields nbpipe does not use.
	ev, err := webhook.ParsePush(webhook.GitHub, fmt.Sprintf("run-%d-%d", gh.RunID, gh.RunAttempt), body)
	if err != nil {
		return fmt.Errorf("the event file %s is not a usable push event: %w", gh.EventPath, err)
	}
	ev.Forge = forge
	if ev.Branch() == "" || ev.Deleted() {
		// %q: the ref comes from the event file, and a line break in it
		// would start a workflow command.
		a.Infof("not a branch push (%q): nothing to do", red.Text(ev.Ref))
		return nil
	}
	targetURL := a.GetInput("target-url")
	if targetURL == "" {
		return fmt.Errorf("input target-url is required")
	}
	token := a.GetInput("token")
	layer, err := inputLayer(a)
	if err != nil {
		return err
	}
	cache := cacheRoot(getenv)
	p := pipeline.New(pipeline.Config{
		Lookup: func(repo string) (pipeline.Source, bool) {
			return pipeline.Source{
				CloneURL: strings.TrimSuffix(gh.ServerURL, "/") + "/" + repo + ".git",
				Token:    token,
				// The pipeline sends the token only to this host: without
				// it the token was dropped and private sources failed.
				TokenHost: pipeline.HostOf(gh.ServerURL),
				TargetDir: a.GetInput("target-dir"),
			}, repo == gh.Repository
		},
		TargetURL:    targetURL,
		TargetToken:  orDefault(a.GetInput("target-token"), token),
		TargetBranch: orDefault(a.GetInput("target-branch"), "main"),
		CacheDir:     filepath.Join(cache, "nbpipe"),
		Author:       publish.Author{Name: "nbpipe", Email: "nbpipe@localhost"},
		Layers:       []convert.Layer{layer},
		Log:          log,
	})
	// The Action keeps nothing between runs: the target's own history says
	// what was published last, so a re-run or late job never rolls back.
	rep, err := p.Run(ctx, pipeline.Request{Event: ev, FromTarget: true})
	if err != nil {
		return err
	}
	deploying := a.GetInput("airflow-url") != "" || a.GetInput("ilum-url") != ""
	report(a, rep, red.Text, deploying)
	failedDeploys, err := deploy(ctx, a, forge, rep, p, cache, log, red.Text)
	if err != nil {
		return err
	}
	if rep.Failed() > 0 || len(rep.Refused) > 0 {
		return fmt.Errorf("%s", rep.Summary())
	}
	if failedDeploys > 0 {
		return fmt.Errorf("%s; %d deployment(s) failed", rep.Summary(), failedDeploys)
	}
	return nil
}

// report sets the outputs, writes the step summary and annotates every
// failed notebook; red scrubs the texts it prints.
func report(a *githubactions.Action, rep *pipeline.Report, red func(string) string, deploying bool) {
	a.SetOutput("target-commit", rep.TargetCommit)
	a.SetOutput("converted", fmt.Sprint(len(rep.Notebooks)-rep.Failed()))
	a.SetOutput("failed", fmt.Sprint(rep.Failed()))
	a.AddStepSummary(red(summary(rep)))
	for _, nb := range rep.Notebooks {
		if nb.Error == "" {
			if why := notDeployed(nb); why != "" && rep.TargetCommit != "" && !deploying {
				a.WithFieldsMap(map[string]string{"file": nb.Path}).Warningf("%s", red(nb.Path+": "+why))
			}
			continue
		}
		// file= attaches the annotation to the notebook. The library
		// escapes the workflow command: %, CR and LF in the message, and
		// also : and , in properties, so neither can end the command.
		a.WithFieldsMap(map[string]string{"file": nb.Path}).Errorf("%s", red(nb.Path+": "+nb.Error))
	}
}

// notDeployed says what a published notebook asks for that an Action
// without airflow-url and ilum-url cannot do. "" when it asks for neither.
func notDeployed(nb pipeline.NotebookReport) string {
	if nb.Result == nil || nb.Result.Deploy == nil {
		return ""
	}
	cfg := nb.Result.Deploy.Config
	var asked []string
	if cfg.Trigger {
		asked = append(asked, "trigger: true")
	}
	for _, t := range cfg.Targets {
		if strings.HasPrefix(t, "ilum_") {
			asked = append(asked, "target "+t)
		}
	}
	if len(asked) == 0 {
		return ""
	}
	return strings.Join(asked, ", ") + ": the Action published the files but was given no airflow-url or ilum-url, so nothing was triggered or deployed"
}

// inputLayer is the conversion settings the inputs give.
func inputLayer(a *githubactions.Action) (convert.Layer, error) {
	settings := map[string]any{}
	if m := a.GetInput("mode"); m != "" {
		settings["mode"] = m
	}
	if t := a.GetInput("targets"); t != "" {
		settings["targets"] = strings.Split(t, ",")
	}
	return convert.LayerFromValues("action inputs", settings)
}

// cacheRoot is where the run keeps its clones.
func cacheRoot(getenv func(string) string) string {
	if c := getenv("RUNNER_TEMP"); c != "" {
		return c
	}
	return os.TempDir()
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// summary is the report as Markdown for the step summary. Paths, errors
// and file names come from the pushed repository: all go through
// MarkdownText.
func summary(rep *pipeline.Report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### nbpipe: %s\n\n| notebook | change | result | files |\n|---|---|---|---|\n", MarkdownText(rep.Summary()))
	for _, nb := range rep.Notebooks {
		result := "converted"
		if nb.Error != "" {
			result = "**failed**: " + MarkdownText(nb.Error)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", MarkdownText(nb.Path), MarkdownText(string(nb.Change)), result, MarkdownText(strings.Join(append(nb.Files, nb.Removed...), ", ")))
	}
	for _, f := range rep.Refused {
		fmt.Fprintf(&b, "\nNot changed (no nbpipe ownership marker): %s\n", MarkdownText(f))
	}
	return b.String()
}

// MarkdownText makes s literal text in GitHub-flavoured Markdown, on one
// line; it is preview.MarkdownText, which the PR preview shares.
func MarkdownText(s string) string { return preview.MarkdownText(s) }
