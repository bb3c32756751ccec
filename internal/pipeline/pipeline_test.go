package pipeline

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nbpipe/nbpipe/internal/gittest"
	"github.com/nbpipe/nbpipe/publish"
	"github.com/nbpipe/nbpipe/webhook"
)

func notebook(code string, meta map[string]any) string {
	md := map[string]any{"kernelspec": map[string]any{"name": "python3", "language": "python"}}
	if meta != nil {
		md["nbpipe"] = meta
	}
	data, _ := json.Marshal(map[string]any{"nbformat": 4, "nbformat_minor": 5, "metadata": md,
		"cells": []any{map[string]any{"cell_type": "code", "metadata": map[string]any{}, "source": code}}})
	return string(data)
}

type fixture struct {
	t      *testing.T
	p      *Processor
	work   string // the data engineer's clone of the source repository
	target string // target repository URL
	last   string
	ev     webhook.PushEvent // the last push processed
}

func newFixture(t *testing.T) *fixture {
	srv := gittest.NewServer(t)
	src := srv.Repo(t, "team/notebooks")
	target := srv.Repo(t, "dags")
	f := &fixture{t: t, work: gittest.Clone(t, src), target: target, last: webhook.ZeroSHA}
	f.p = New(Config{
		Lookup: func(repo string) (Source, bool) {
			if repo != "team/notebooks" {
				return Source{}, false
			}
			return Source{CloneURL: src, TargetDir: "team"}, true
		},
		TargetURL:    target,
		TargetBranch: "main",
		CacheDir:     t.TempDir(),
		Author:       publish.Author{Name: "nbpipe", Email: "nbpipe@localhost"},
	})
	return f
}

// push commits files in the source, pushes, and processes the push.
func (f *fixture) push(msg string, files map[string]string, renames ...[2]string) *Report {
	t := f.t
	for _, r := range renames {
		gittest.Run(t, f.work, "git", "mv", r[0], r[1])
	}
	after := gittest.Commit(t, f.work, msg, files)
	gittest.Run(t, f.work, "git", "push", "-q", "origin", "main")
	ev := webhook.PushEvent{Forge: webhook.Gitea, DeliveryID: msg, Repo: "team/notebooks", Ref: "refs/heads/main", Before: f.last, After: after}
	f.last, f.ev = after, ev
	rep, err := f.p.Process(context.Background(), ev)
	if err != nil {
		t.Fatalf("%s: %v", msg, err)
	}
	return rep
}

// targetFiles lists the target branch's files after a fresh clone.
func (f *fixture) targetFiles() (string, map[string]string) {
	dir := gittest.Clone(f.t, f.target)
	files := map[string]string{}
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.Contains(p, "/.git/") {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		data, _ := os.ReadFile(p)
		files[filepath.ToSlash(rel)] = string(data)
		return nil
	})
	return dir, files
}

func notebookResult(rep *Report, path string) NotebookReport {
	for _, nb := range rep.Notebooks {
		if nb.Path == path {
			return nb
		}
	}
	return NotebookReport{Path: "(missing) " + path}
}

func TestProcessPushLifecycle(t *testing.T) {
	f := newFixture(t)

	// 1. New branch: every notebook; one broken, one with a secret.
	rep := f.push("add notebooks", map[string]string{
		"etl.ipynb":         notebook("x = spark.range(3).count()\n", nil),
		"broken.ipynb":      `{"nbformat": 4, "cells": [`,
		"leaky.ipynb":       notebook("key = \"AKIA"+strings.Repeat("Q", 16)+"\"\n", nil),
		"notes/readme.md":   "not a notebook",
		".nbpipe.yaml":      "defaults: {owner: data-eng}\n",
		"scratch/tmp.ipynb": notebook("y = 1\n", nil),
	})
	if rep.TargetCommit == "" || rep.Failed() != 2 || len(rep.Notebooks) != 4 {
		t.Fatalf("first push: %+v", rep)
	}
	if e := notebookResult(rep, "broken.ipynb").Error; !strings.Contains(e, "invalid JSON") {
		t.Fatalf("broken notebook error %q", e)
	}
	if e := notebookResult(rep, "leaky.ipynb").Error; !strings.Contains(e, "AWS access key") || strings.Contains(e, "QQQQ") {
		t.Fatalf("secret error %q (must name the kind, never the value)", e)
	}
	dir, files := f.targetFiles()
	if !strings.Contains(files["team/dags/etl.py"], `"owner": "data-eng"`) || files["team/dags/tmp.py"] == "" {
		t.Fatalf("target files %v", keys(files))
	}
	if _, ok := files["team/dags/broken.py"]; ok {
		t.Fatal("a broken notebook produced output")
	}
	msg := gittest.Run(t, dir, "git", "log", "-1", "--format=%B")
	if !strings.Contains(msg, "Source-Repo: team/notebooks") || !strings.Contains(msg, "Source-Commit: "+rep.SourceCommit) || !strings.Contains(msg, "broken.ipynb (added): FAILED") {
		t.Fatalf("commit message:\n%s", msg)
	}

	// 2. Rename etl -> daily (new dag id), fix broken, modify nothing else.
	rep = f.push("rename and fix", map[string]string{"broken.ipynb": notebook("z = 3\n", nil)}, [2]string{"etl.ipynb", "daily.ipynb"})
	_, files = f.targetFiles()
	if _, ok := files["team/dags/etl.py"]; ok {
		t.Fatalf("renamed notebook's old DAG not removed: %v", keys(files))
	}
	if files["team/dags/daily.py"] == "" || files["team/dags/broken.py"] == "" || rep.Failed() != 0 {
		t.Fatalf("after rename: %v %+v", keys(files), rep)
	}
	if got := notebookResult(rep, "etl.ipynb").Removed; len(got) != 1 || got[0] != "team/dags/etl.py" {
		t.Fatalf("etl.ipynb removed outputs %v", got)
	}

	// 3. A broken edit keeps the working DAG.
	good := files["team/dags/daily.py"]
	rep = f.push("break daily", map[string]string{"daily.ipynb": `{"nbformat": 4`})
	_, files = f.targetFiles()
	if files["team/dags/daily.py"] != good || rep.Failed() != 1 || rep.TargetCommit != "" {
		t.Fatalf("a broken edit changed the DAG or made a commit: %+v", rep)
	}

	// 4. Two notebooks claiming one dag_id: the second is refused.
	rep = f.push("collide", map[string]string{"other/etl2.ipynb": notebook("w = 1\n", map[string]any{"dag_id": "broken"})})
	if e := notebookResult(rep, "other/etl2.ipynb").Error; !strings.Contains(e, "already belongs to notebook broken.ipynb") {
		t.Fatalf("dag_id collision not refused: %+v", rep)
	}

	// 5. Deleting a notebook deletes its outputs; a foreign file stays.
	gw := gittest.Clone(t, f.target)
	gittest.Commit(t, gw, "hand-written", map[string]string{"team/dags/manual.py": "# mine\n"})
	gittest.Run(t, gw, "git", "push", "-q", "origin", "main")
	rep = f.push("delete and clash", map[string]string{"daily.ipynb": "", "manual.ipynb": notebook("m = 1\n", nil)})
	_, files = f.targetFiles()
	if _, ok := files["team/dags/daily.py"]; ok || files["team/dags/manual.py"] != "# mine\n" {
		t.Fatalf("after delete: %v", keys(files))
	}
	if len(rep.Refused) != 1 || rep.Refused[0] != "team/dags/manual.py" {
		t.Fatalf("foreign file not reported: %+v", rep)
	}

	// 6. Changing .nbpipe.yaml alone regenerates every DAG.
	rep = f.push("new owner", map[string]string{".nbpipe.yaml": "defaults: {owner: platform}\n"})
	_, files = f.targetFiles()
	if !strings.Contains(files["team/dags/broken.py"], `"owner": "platform"`) || !strings.Contains(files["team/dags/tmp.py"], `"owner": "platform"`) {
		t.Fatalf("a .nbpipe.yaml change did not regenerate the DAGs: %+v", rep)
	}

	// 7. The same push again (a redelivery) changes nothing.
	rep, err := f.p.Process(context.Background(), f.ev)
	if err != nil || rep.TargetCommit != "" {
		t.Fatalf("replay made a commit: %+v %v", rep, err)
	}

	// A push whose commit is gone (force-pushed away) is permanent, not retried.
	gone := f.ev
	gone.Before, gone.After = f.last, strings.Repeat("ab", 20)
	if _, err := f.p.Process(context.Background(), gone); !Permanent(err) {
		t.Fatalf("a missing commit: %v, want a permanent error", err)
	}

	// A repository that is not allow-listed is refused.
	if _, err := f.p.Process(context.Background(), webhook.PushEvent{Repo: "evil/repo", Ref: "refs/heads/main", After: f.last}); !Permanent(err) {
		t.Fatal("processed a push from a repository not on the allow-list")
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
