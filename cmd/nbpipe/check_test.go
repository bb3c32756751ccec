package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// badNotebook has Scala in cell 2, line 2 and an invalid tag on cell 3.
const badNotebook = `{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
 {"cell_type": "markdown", "metadata": {}, "source": "# Bad\n"},
 {"cell_type": "code", "metadata": {}, "source": "x = 1\nval y = 2\n"},
 {"cell_type": "code", "metadata": {"tags": ["retries:many"]}, "source": "y = 2\n"}]}`

// warnNotebook converts, with a warning (invalid tag) and a notice (stripped line).
const warnNotebook = `{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
 {"cell_type": "code", "metadata": {"tags": ["retries:many"]}, "source": "%matplotlib inline\ny = 2\n"}]}`

func dirListing(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		out = append(out, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCheckPrintsOneGrepableLinePerFindingAndWritesNothing(t *testing.T) {
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "good.ipynb"), goodNotebook)
	writeFile(t, filepath.Join(src, "pipelines", "bad.ipynb"), badNotebook)
	writeFile(t, filepath.Join(src, "pipelines", "warn.ipynb"), warnNotebook)
	writeFile(t, filepath.Join(src, ".ipynb_checkpoints", "bad-checkpoint.ipynb"), badNotebook)
	before := dirListing(t, src)
	t.Chdir(src)

	code, stdout, stderr := runCLI(t, "check")
	if code != 1 {
		t.Fatalf("exit %d, want 1 with an error\n%s%s", code, stdout, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	want := []string{
		"pipelines/bad.ipynb:cell 2:line 2: error: ",
		"pipelines/warn.ipynb:cell 1:line 1: notice: ",
		"pipelines/warn.ipynb:cell 1: warning: ",
	}
	for _, w := range want {
		found := false
		for _, l := range lines {
			found = found || strings.HasPrefix(l, w)
		}
		if !found {
			t.Errorf("no line starts with %q:\n%s", w, stdout)
		}
	}
	for _, l := range lines {
		if strings.HasPrefix(l, "good.ipynb") || strings.Contains(l, "checkpoint") {
			t.Errorf("unexpected line %q", l)
		}
		// path:cell N:line M: level: message, nothing else on the line.
		parts := strings.SplitN(l, ": ", 3)
		if len(parts) != 3 || !strings.HasSuffix(parts[0], ".ipynb") && !strings.Contains(parts[0], ".ipynb:cell ") {
			t.Errorf("line %q is not PATH[:cell N[:line M]]: LEVEL: MESSAGE", l)
		}
		switch parts[1] {
		case "error", "warning", "notice":
		default:
			t.Errorf("line %q: level %q", l, parts[1])
		}
	}
	if !strings.Contains(stderr, "3 notebook(s), 1 with errors") {
		t.Errorf("summary: %q", stderr)
	}
	if after := dirListing(t, src); strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Errorf("check wrote files:\nbefore %v\nafter  %v", before, after)
	}

	// -q leaves the notices out; the exit status stays.
	code, stdout, _ = runCLI(t, "check", "-q", "pipelines")
	if code != 1 || strings.Contains(stdout, ": notice: ") || !strings.Contains(stdout, "pipelines/bad.ipynb:cell 2:line 2: error:") {
		t.Errorf("check -q: exit %d\n%s", code, stdout)
	}
}

func TestCheckExitsZeroOnWarnings(t *testing.T) {
	src := t.TempDir()
	nb := filepath.Join(src, "warn.ipynb")
	writeFile(t, nb, warnNotebook)
	code, stdout, stderr := runCLI(t, "check", nb)
	if code != 0 {
		t.Fatalf("exit %d, want 0 with warnings only\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, filepath.ToSlash(nb)+":cell 1: warning: ") {
		t.Errorf("the file's path as given should lead the line:\n%s", stdout)
	}
}

func TestCheckJSON(t *testing.T) {
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "bad.ipynb"), badNotebook)
	writeFile(t, filepath.Join(src, "good.ipynb"), goodNotebook)
	code, stdout, stderr := runCLI(t, "check", "--json", src)
	if code != 1 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	var rep struct {
		Notebooks, Failed, Warnings int
		Results                     []struct {
			Notebook string
			Files    []any
			Findings []struct {
				Severity, Code, Message string
				Cell, Line              int
			}
		}
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if rep.Notebooks != 2 || rep.Failed != 1 || len(rep.Results) != 2 {
		t.Fatalf("report %+v", rep)
	}
	r := rep.Results[0]
	if r.Notebook != filepath.ToSlash(filepath.Join(src, "bad.ipynb")) || len(r.Files) != 0 {
		t.Errorf("result %+v", r)
	}
	var syntax bool
	for _, f := range r.Findings {
		syntax = syntax || f.Severity == "error" && f.Code == "syntax" && f.Cell == 2 && f.Line == 2
	}
	if !syntax {
		t.Errorf("no syntax error at cell 2, line 2: %+v", r.Findings)
	}
}

func TestCheckUsesTheRepositoryConfig(t *testing.T) {
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "nb.ipynb"), goodNotebook)
	// A directory's .nbpipe.yaml applies...
	writeFile(t, filepath.Join(src, ".nbpipe.yaml"), "defaults: {schedule: \"not a cron\"}\n")
	code, stdout, _ := runCLI(t, "check", src)
	if code != 1 || !strings.Contains(stdout, "nb.ipynb: error: ") || !strings.Contains(stdout, "schedule") {
		t.Errorf("the directory's .nbpipe.yaml was not applied: exit %d\n%s", code, stdout)
	}
	// ... unless --config names another one.
	cfg := filepath.Join(t.TempDir(), "ok.yaml")
	writeFile(t, cfg, "defaults: {schedule: \"@daily\"}\n")
	if code, stdout, stderr := runCLI(t, "check", "--config", cfg, src); code != 0 {
		t.Errorf("--config: exit %d\n%s%s", code, stdout, stderr)
	}
	// A broken --config is a usage error.
	writeFile(t, cfg, "defaults: {retrys: 3}\n")
	if code, _, stderr := runCLI(t, "check", "--config", cfg, src); code != 2 || !strings.Contains(stderr, "retries") {
		t.Errorf("broken --config: exit %d %s", code, stderr)
	}
	// Two notebooks claiming one dag_id: the second is refused, as in convert.
	writeFile(t, filepath.Join(src, "sub", "nb.ipynb"), goodNotebook)
	os.Remove(filepath.Join(src, ".nbpipe.yaml"))
	code, stdout, _ = runCLI(t, "check", src)
	if code != 1 || !strings.Contains(stdout, "sub/nb.ipynb: error: dag_id \"nb\" is already used by") {
		t.Errorf("duplicate dag_id: exit %d\n%s", code, stdout)
	}
	if code, _, stderr := runCLI(t, "check", filepath.Join(src, "missing.ipynb")); code != 2 || stderr == "" {
		t.Errorf("missing path: exit %d %q", code, stderr)
	}
}

// TestCheckCorpusIsFast checks the 59 corpus notebooks, the way a pre-commit
// hook would on a large commit, and reports the time.
func TestCheckCorpusIsFast(t *testing.T) {
	dir := os.Getenv("NBPIPE_CORPUS")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "corpus", "notebooks")
	}
	if _, err := os.Stat(dir); err != nil {
		t.Skip("corpus not found (set NBPIPE_CORPUS):", err)
	}
	start := time.Now()
	code, stdout, stderr := runCLI(t, "check", "-q", dir)
	took := time.Since(start)
	if code != 1 || !strings.Contains(stderr, "notebook(s)") {
		t.Fatalf("exit %d (the corpus holds refused notebooks)\n%s", code, stderr)
	}
	t.Logf("%s in %v: %d finding line(s)", strings.TrimSpace(stderr), took, strings.Count(stdout, "\n"))
	if took > 5*time.Second {
		t.Errorf("check took %v on the corpus", took)
	}
}

// TestJupytextScriptsInWalks: in a directory, and when pre-commit names every
// staged .py file, a .py file counts only with a Jupytext header and not as
// the paired copy of a .ipynb; convert still reads a named .py file.
func TestJupytextScriptsInWalks(t *testing.T) {
	const header = "# ---\n# jupyter:\n#   jupytext:\n%s#     text_representation:\n#       format_name: percent\n#   kernelspec:\n#     name: python3\n# ---\n\n# %%\n"
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "job.py"), fmt.Sprintf(header, "")+"val broken = 1\n")
	writeFile(t, filepath.Join(src, "util.py"), "# %%\ndef helper():\n    return 1\n")
	writeFile(t, filepath.Join(src, "pair.ipynb"), goodNotebook)
	writeFile(t, filepath.Join(src, "pair.py"), fmt.Sprintf(header, "#     formats: ipynb,py:percent\n")+"val broken = 1\n")
	for _, args := range [][]string{{src}, {filepath.Join(src, "job.py"), filepath.Join(src, "util.py"), filepath.Join(src, "pair.ipynb"), filepath.Join(src, "pair.py")}} {
		code, stdout, stderr := runCLI(t, append([]string{"check", "--json"}, args...)...)
		var rep struct {
			Results []struct{ Notebook string }
		}
		if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
			t.Fatalf("%v\n%s%s", err, stdout, stderr)
		}
		var got []string
		for _, r := range rep.Results {
			got = append(got, filepath.Base(r.Notebook))
		}
		// job.py is checked (and fails: Scala); util.py and pair.py are not.
		if code != 1 || strings.Join(got, ",") != "job.py,pair.ipynb" {
			t.Errorf("check %v: exit %d, notebooks %v", args, code, got)
		}
	}
	// A named module is said to be skipped (not with -q, as pre-commit runs it).
	if code, _, stderr := runCLI(t, "check", filepath.Join(src, "util.py")); code != 0 || !strings.Contains(stderr, "util.py: skipped: a .py file without a Jupytext header") {
		t.Errorf("check util.py: exit %d\n%s", code, stderr)
	}
	if _, _, stderr := runCLI(t, "check", "-q", filepath.Join(src, "util.py")); strings.Contains(stderr, "skipped") {
		t.Errorf("check -q util.py: %s", stderr)
	}
	out := t.TempDir()
	if code, stdout, stderr := runCLI(t, "convert", "--out", out, filepath.Join(src, "util.py")); code != 0 {
		t.Fatalf("a named script with cells: exit %d\n%s%s", code, stdout, stderr)
	}
}
