package preview_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/nbpipe/nbpipe/internal/gittest"
	"github.com/nbpipe/nbpipe/internal/pipeline"
	"github.com/nbpipe/nbpipe/preview"
	"github.com/nbpipe/nbpipe/publish"
	"github.com/nbpipe/nbpipe/webhook"
)

func nb(src string) string {
	return `{"nbformat": 4, "metadata": {}, "cells": [{"cell_type": "code", "metadata": {}, "source": ` + quote(src) + `}]}`
}

// scheduled is a per_cell notebook of two cells with a schedule in its
// metadata.
func scheduled(schedule string, cells ...string) string {
	var cs []string
	for _, c := range cells {
		cs = append(cs, `{"cell_type": "code", "metadata": {}, "source": `+quote(c)+`}`)
	}
	return `{"nbformat": 4, "metadata": {"nbpipe": {"schedule": "` + schedule + `", "mode": "per_cell"}}, "cells": [` + strings.Join(cs, ", ") + `]}`
}

func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}

// fixture is a source repository whose main branch was published by the
// real pipeline, and a pull request branch on top of it.
type fixture struct {
	srv                       *gittest.Server
	src, target, work         string
	mainHead, prHead, baseTip string
	processor                 *pipeline.Processor
}

func setup(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{srv: gittest.NewServer(t)}
	f.src = f.srv.Repo(t, "acme/notebooks")
	f.target = f.srv.Repo(t, "dags")
	f.work = gittest.Clone(t, f.src)
	f.mainHead = gittest.Commit(t, f.work, "main", map[string]string{
		"etl.ipynb":     scheduled("@daily", "x = 1", "y = x"),
		"old.ipynb":     nb("y = 2"),
		"stable.ipynb":  nb("z = 3"),
		"reports.ipynb": nb("r = 4"),
	})
	gittest.Run(t, f.work, "git", "push", "-q", "origin", "main")
	f.processor = pipeline.New(pipeline.Config{
		Lookup: func(repo string) (pipeline.Source, bool) {
			return pipeline.Source{CloneURL: f.src, TargetDir: "team"}, repo == "acme/notebooks"
		},
		TargetURL: f.target, TargetBranch: "main", CacheDir: t.TempDir(),
		Author: publish.Author{Name: "nbpipe", Email: "nbpipe@localhost"},
		Log:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	f.publish(t, strings.Repeat("0", 40), f.mainHead)

	// The pull request: etl changes (a line more, its schedule), old is
	// removed, new is added, broken does not parse; stable is untouched.
	gittest.Run(t, f.work, "git", "checkout", "-q", "-b", "feature")
	f.prHead = gittest.Commit(t, f.work, "feature", map[string]string{
		"etl.ipynb":       scheduled("@hourly", "x = 1", "y = x", "print(y)"),
		"old.ipynb":       "",
		"new.ipynb":       nb("n = 5"),
		"broken.ipynb":    `{"nbformat": 4`,
		"docs/readme.txt": "not a notebook",
	})
	gittest.Run(t, f.work, "git", "push", "-q", "origin", "feature", "feature:refs/pull/7/head")
	// Meanwhile main moves on: its change is not the pull request's.
	gittest.Run(t, f.work, "git", "checkout", "-q", "main")
	f.baseTip = gittest.Commit(t, f.work, "main moves", map[string]string{"reports.ipynb": nb("r = 40")})
	gittest.Run(t, f.work, "git", "push", "-q", "origin", "main")
	return f
}

func (f *fixture) publish(t *testing.T, before, after string) *pipeline.Report {
	t.Helper()
	rep, err := f.processor.Process(context.Background(), webhook.PushEvent{Repo: "acme/notebooks", Ref: "refs/heads/main", Before: before, After: after})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func (f *fixture) open(t *testing.T) (src, target *publish.Repo, srcDir string) {
	t.Helper()
	ctx := context.Background()
	srcDir = filepath.Join(t.TempDir(), "src")
	s, err := publish.Open(ctx, f.src, nil, srcDir)
	if err != nil {
		t.Fatal(err)
	}
	tg, err := publish.Open(ctx, f.target, nil, filepath.Join(t.TempDir(), "target"))
	if err != nil {
		t.Fatal(err)
	}
	return s, tg, srcDir
}

func byPath(p *preview.Preview) map[string]preview.Notebook {
	m := map[string]preview.Notebook{}
	for _, n := range p.Notebooks {
		m[n.Path] = n
	}
	return m
}

// TestComputeAPullRequest: the notebooks the pull request changes (from
// the merge base, so main's own later change is not counted), each with
// its DAG, tasks, schedule and errors, and the generated files against the
// target branch with line counts. Nothing is written to the target.
func TestComputeAPullRequest(t *testing.T) {
	f := setup(t)
	_, target, srcDir := f.open(t)
	ctx := context.Background()
	if err := preview.FetchRef(ctx, srcDir, nil, preview.PullRef(7), "nbpipe-pull"); err != nil {
		t.Fatal(err)
	}
	src, err := publish.Open(ctx, f.src, nil, srcDir)
	if err != nil {
		t.Fatal(err)
	}
	base, err := preview.MergeBase(srcDir, f.baseTip, f.prHead)
	if err != nil || base != f.mainHead {
		t.Fatalf("merge base %s (%v), want %s", base, err, f.mainHead)
	}
	targetHead, _ := target.Head("main")

	p, err := preview.Compute(ctx, src, base, f.prHead, target, preview.Options{Repo: "acme/notebooks", TargetDir: "team", TargetBranch: "main"})
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, n := range p.Notebooks {
		paths = append(paths, n.Path)
	}
	if strings.Join(paths, " ") != "broken.ipynb etl.ipynb new.ipynb old.ipynb" {
		t.Fatalf("notebooks %v", paths)
	}
	nbs := byPath(p)
	etl := nbs["etl.ipynb"]
	if etl.Change != publish.Modified || etl.DagID != "etl" || etl.Schedule != "@hourly" || len(etl.Tasks) == 0 || len(etl.Errors) != 0 {
		t.Errorf("etl: %+v", etl)
	}
	if len(etl.Files) != 1 || etl.Files[0].Path != "team/dags/etl.py" || etl.Files[0].Change != publish.Modified || etl.Files[0].Added == 0 || etl.Files[0].Removed == 0 {
		t.Errorf("etl files: %+v", etl.Files)
	}
	if n := nbs["new.ipynb"]; len(n.Files) != 1 || n.Files[0].Change != publish.Added || n.Files[0].Removed != 0 || n.Files[0].Added == 0 || n.Schedule != "" {
		t.Errorf("new: %+v", n)
	}
	if n := nbs["old.ipynb"]; n.Change != publish.Removed || len(n.Files) != 1 || n.Files[0].Change != publish.Removed || n.Files[0].Path != "team/dags/old.py" || n.Files[0].Removed == 0 {
		t.Errorf("old: %+v", n)
	}
	if n := nbs["broken.ipynb"]; len(n.Errors) == 0 || len(n.Files) != 0 {
		t.Errorf("broken: %+v", n)
	}
	if p.Failed() != 1 || p.TargetHead != targetHead || p.Base != f.mainHead || p.Head != f.prHead {
		t.Errorf("preview %+v", p)
	}
	if after, _ := target.Head("main"); after != targetHead {
		t.Fatal("the preview wrote to the target")
	}

	// What the preview announced is what publishing the head does: the
	// same files added, changed and removed.
	gittest.Run(t, f.work, "git", "checkout", "-q", "main")
	gittest.Run(t, f.work, "git", "merge", "-q", "--no-edit", "feature")
	merged := strings.TrimSpace(gittest.Run(t, f.work, "git", "rev-parse", "HEAD"))
	gittest.Run(t, f.work, "git", "push", "-q", "origin", "main")
	f.publish(t, f.baseTip, merged)
	check := gittest.Clone(t, f.target)
	diff := map[string]string{}
	lines := strings.Split(strings.TrimSpace(gittest.Run(t, check, "git", "diff", "--no-renames", "--name-status", targetHead, "HEAD")), "\n")
	for _, l := range lines {
		st, file, _ := strings.Cut(l, "\t")
		if file == "team/dags/reports.py" { // main's own change, published with the merge
			continue
		}
		diff[file] = st
	}
	want := map[string]string{}
	for _, n := range p.Notebooks {
		for _, fd := range n.Files {
			want[fd.Path] = map[publish.ChangeKind]string{publish.Added: "A", publish.Modified: "M", publish.Removed: "D"}[fd.Change]
		}
	}
	for file := range diff {
		if strings.HasSuffix(file, ".airflowignore") {
			delete(diff, file)
		}
	}
	if keys(diff) != keys(want) {
		t.Fatalf("published changes %v, the preview said %v", diff, want)
	}
	for k, v := range want {
		if diff[k] != v {
			t.Errorf("%s: published %s, the preview said %s", k, diff[k], v)
		}
	}
	// And the line counts are git's.
	for _, n := range p.Notebooks {
		for _, fd := range n.Files {
			if fd.Change != publish.Modified {
				continue
			}
			stat := strings.Fields(gittest.Run(t, check, "git", "diff", "--no-renames", "--numstat", targetHead, "HEAD", "--", fd.Path))
			if len(stat) < 2 || stat[0] != itoa(fd.Added) || stat[1] != itoa(fd.Removed) {
				t.Errorf("%s: git says +%v -%v, the preview +%d -%d", fd.Path, stat, stat, fd.Added, fd.Removed)
			}
		}
	}
}

func keys(m map[string]string) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, " ")
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestComputeConfigChange: a .nbpipe.yaml the pull request breaks fails
// every notebook with its error; one it changes counts every notebook.
func TestComputeConfigChange(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	gittest.Run(t, f.work, "git", "checkout", "-q", "-b", "cfg", f.mainHead)
	bad := gittest.Commit(t, f.work, "bad config", map[string]string{".nbpipe.yaml": "nope: [\n"})
	gittest.Run(t, f.work, "git", "checkout", "-q", "-b", "cfg2", f.mainHead)
	good := gittest.Commit(t, f.work, "config", map[string]string{".nbpipe.yaml": "defaults:\n  mode: per_cell\n"})
	gittest.Run(t, f.work, "git", "push", "-q", "origin", "cfg", "cfg2")
	src, target, _ := f.open(t)
	opt := preview.Options{Repo: "acme/notebooks", TargetDir: "team", TargetBranch: "main"}

	p, err := preview.Compute(ctx, src, f.mainHead, bad, target, opt)
	if err != nil {
		t.Fatal(err)
	}
	if p.ConfigError == "" || len(p.Notebooks) != 4 || p.Failed() != 4 {
		t.Fatalf("a broken .nbpipe.yaml: %+v", p)
	}
	if md := preview.Render(p); !strings.Contains(md, "**.nbpipe.yaml does not parse**") {
		t.Fatalf("render:\n%s", md)
	}

	p, err = preview.Compute(ctx, src, f.mainHead, good, target, opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Notebooks) != 4 || p.Failed() != 0 {
		t.Fatalf("a changed .nbpipe.yaml counts every notebook: %+v", p)
	}
	for _, n := range p.Notebooks {
		if n.Change != publish.Modified || n.Mode != "per_cell" || len(n.Files) != 1 || n.Files[0].Change != publish.Modified {
			t.Errorf("%s: %+v", n.Path, n)
		}
	}
}

// TestComputeRefusalsAsPublishingDecidesThem: a file in the target without
// nbpipe's header is left alone (a warning), a dag_id another notebook
// owns fails the notebook, and two notebooks of one pull request writing
// one file: the second fails. The same as publishing decides it (checked
// against the real pipeline below).
func TestComputeRefusalsAsPublishingDecidesThem(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	// Someone put a hand-written new.py in the target.
	tw := gittest.Clone(t, f.target)
	gittest.Commit(t, tw, "hand-written", map[string]string{"team/dags/new.py": "# mine\n"})
	gittest.Run(t, tw, "git", "push", "-q", "origin", "main")
	gittest.Run(t, f.work, "git", "checkout", "-q", "-b", "clash", f.mainHead)
	head := gittest.Commit(t, f.work, "clash", map[string]string{
		"new.ipynb":    nb("n = 1"),
		"copy.ipynb":   `{"nbformat": 4, "metadata": {"nbpipe": {"dag_id": "stable"}}, "cells": [{"cell_type": "code", "metadata": {}, "source": "s = 1"}]}`,
		"a/x.ipynb":    nb("a = 1"),
		"b/x.ipynb":    nb("b = 1"),
		"stable.ipynb": nb("z = 30"),
	})
	gittest.Run(t, f.work, "git", "push", "-q", "origin", "clash")
	src, target, _ := f.open(t)
	p, err := preview.Compute(ctx, src, f.mainHead, head, target, preview.Options{Repo: "acme/notebooks", TargetDir: "team", TargetBranch: "main"})
	if err != nil {
		t.Fatal(err)
	}
	nbs := byPath(p)
	if n := nbs["new.ipynb"]; len(n.Errors) != 0 || len(n.Files) != 0 || len(n.Warnings) != 1 || !strings.Contains(n.Warnings[0], "without nbpipe's ownership header") {
		t.Errorf("new (a foreign file at its path): %+v", n)
	}
	if n := nbs["copy.ipynb"]; len(n.Errors) != 1 || !strings.Contains(n.Errors[0], "already belongs to notebook stable.ipynb") || len(n.Files) != 0 {
		t.Errorf("copy (stable's dag_id): %+v", n)
	}
	// The publishing run hands stable.py to copy.ipynb first (by path),
	// then the target refuses it: both fail, stable.py stays.
	if n := nbs["stable.ipynb"]; len(n.Errors) != 1 || !strings.Contains(n.Errors[0], "is also produced by copy.ipynb") || len(n.Files) != 0 {
		t.Errorf("stable: %+v", n)
	}
	if a, b := nbs["a/x.ipynb"], nbs["b/x.ipynb"]; len(a.Errors) != 0 || len(b.Errors) != 1 || !strings.Contains(b.Errors[0], "is also produced by a/x.ipynb") {
		t.Errorf("two notebooks, one dag_id: %+v / %+v", a, b)
	}

	// The real pipeline, publishing that head, decides the same.
	gittest.Run(t, f.work, "git", "push", "-q", "-f", "origin", "clash:main")
	rep := f.publish(t, f.baseTip, head)
	for _, r := range rep.Notebooks {
		if (r.Error != "") != (len(nbs[r.Path].Errors) > 0) {
			t.Errorf("%s: the pipeline says %q, the preview %q", r.Path, r.Error, nbs[r.Path].Errors)
		}
	}
	if len(rep.Refused) != 1 || rep.Refused[0] != "team/dags/new.py" {
		t.Errorf("the pipeline left alone %v", rep.Refused)
	}
}

// TestComputeDagIDTakenInAnotherDirectory: a new DAG whose dag_id another
// repository already published under its own directory fails, as
// publishing refuses it (Airflow's dag_ids are global), when the target's
// file names are given (Options.Named, from NamesAt).
func TestComputeDagIDTakenInAnotherDirectory(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	// Another team's repository published clash.py under other/.
	otherSrc := f.srv.Repo(t, "other/nbs")
	ow := gittest.Clone(t, otherSrc)
	oh := gittest.Commit(t, ow, "clash", map[string]string{"clash.ipynb": nb("c = 1")})
	gittest.Run(t, ow, "git", "push", "-q", "origin", "main")
	other := pipeline.New(pipeline.Config{
		Lookup: func(repo string) (pipeline.Source, bool) {
			return pipeline.Source{CloneURL: otherSrc, TargetDir: "other"}, repo == "other/nbs"
		},
		TargetURL: f.target, TargetBranch: "main", CacheDir: t.TempDir(),
		Author: publish.Author{Name: "nbpipe", Email: "nbpipe@localhost"},
		Log:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if _, err := other.Process(ctx, webhook.PushEvent{Repo: "other/nbs", Ref: "refs/heads/main", Before: strings.Repeat("0", 40), After: oh}); err != nil {
		t.Fatal(err)
	}
	gittest.Run(t, f.work, "git", "checkout", "-q", "-b", "clash", f.mainHead)
	head := gittest.Commit(t, f.work, "clash", map[string]string{"clash.ipynb": nb("mine = 1")})
	gittest.Run(t, f.work, "git", "push", "-q", "origin", "clash")
	src, target, _ := f.open(t)
	targetHead, _ := target.Head("main")
	targetDir := filepath.Join(t.TempDir(), "t")
	if _, err := publish.Open(ctx, f.target, nil, targetDir); err != nil {
		t.Fatal(err)
	}
	named, err := preview.NamesAt(targetDir, targetHead)
	if err != nil {
		t.Fatal(err)
	}
	p, err := preview.Compute(ctx, src, f.mainHead, head, target, preview.Options{Repo: "acme/notebooks", TargetDir: "team", TargetBranch: "main", Named: named})
	if err != nil {
		t.Fatal(err)
	}
	n := byPath(p)["clash.ipynb"]
	if len(n.Errors) != 1 || !strings.Contains(n.Errors[0], `dag_id "clash" is already published as other/dags/clash.py`) || len(n.Files) != 0 {
		t.Fatalf("clash: %+v", n)
	}
	// The real pipeline refuses it the same way.
	gittest.Run(t, f.work, "git", "push", "-q", "-f", "origin", "clash:main")
	rep := f.publish(t, f.baseTip, head)
	for _, r := range rep.Notebooks {
		if r.Path == "clash.ipynb" && r.Error == "" {
			t.Fatalf("the pipeline published clash.ipynb: %+v", r)
		}
	}
}
