package pipeline

import (
	"strings"
	"testing"
)

// script is a Jupytext percent-format notebook; formats is its header's
// pairing ("" for none).
func script(code, formats string) string {
	h := "# ---\n# jupyter:\n#   jupytext:\n"
	if formats != "" {
		h += "#     formats: " + formats + "\n"
	}
	h += "#     text_representation:\n#       extension: .py\n#       format_name: percent\n" +
		"#   kernelspec:\n#     display_name: Python 3\n#     language: python\n#     name: python3\n# ---\n"
	return h + "\n# %%\n" + code
}

func changeOf(rep *Report, path string) string {
	nb := notebookResult(rep, path)
	if strings.HasPrefix(nb.Path, "(missing)") {
		return "-"
	}
	return string(nb.Change)
}

func TestJupytextScriptsInPushes(t *testing.T) {
	f := newFixture(t)

	// A Jupytext script is a notebook; a module with editor cells is not;
	// the paired copy of a .ipynb is skipped, so the pair claims one dag_id.
	rep := f.push("add", map[string]string{
		"job.py":     script("n = spark.range(3).count()\n", ""),
		"util.py":    "# %%\ndef helper():\n    return 1\n",
		"pair.ipynb": notebook("p = 1\n", nil),
		"pair.py":    script("p = 1\n", "ipynb,py:percent"),
	})
	if rep.Failed() != 0 || len(rep.Notebooks) != 2 || changeOf(rep, "job.py") != "added" || changeOf(rep, "pair.ipynb") != "added" {
		t.Fatalf("first push: %+v", rep.Notebooks)
	}
	_, files := f.targetFiles()
	if !strings.Contains(files["team/dags/job.py"], "spark.range(3).count()") || files["team/dags/pair.py"] == "" {
		t.Fatalf("target files %v", keys(files))
	}
	if _, ok := files["team/dags/util.py"]; ok {
		t.Fatal("a plain module became a DAG")
	}

	// The .ipynb goes, its paired script stays: the script takes the DAG over.
	rep = f.push("drop ipynb", map[string]string{"pair.ipynb": ""})
	if rep.Failed() != 0 || changeOf(rep, "pair.ipynb") != "removed" || changeOf(rep, "pair.py") != "added" {
		t.Fatalf("after removing the .ipynb: %+v", rep.Notebooks)
	}
	_, files = f.targetFiles()
	if !strings.Contains(files["team/dags/pair.py"], "pair.py") {
		t.Fatalf("the paired script's DAG is gone or not its own: %v\n%s", keys(files), files["team/dags/pair.py"])
	}

	// A .nbpipe.yaml change regenerates every notebook, scripts included,
	// and still not the module.
	rep = f.push("owner", map[string]string{".nbpipe.yaml": "defaults: {owner: platform}\n"})
	if changeOf(rep, "job.py") != "modified" || changeOf(rep, "pair.py") != "modified" || changeOf(rep, "util.py") != "-" {
		t.Fatalf("after a .nbpipe.yaml change: %+v", rep.Notebooks)
	}
	_, files = f.targetFiles()
	if !strings.Contains(files["team/dags/job.py"], `"owner": "platform"`) {
		t.Fatalf("job.py's DAG was not regenerated:\n%s", files["team/dags/job.py"])
	}

	// A script that loses its header is no notebook any more: its DAG goes.
	rep = f.push("plain again", map[string]string{"job.py": "# %%\nn = 1\n"})
	if changeOf(rep, "job.py") != "removed" {
		t.Fatalf("header removed: %+v", rep.Notebooks)
	}
	_, files = f.targetFiles()
	if _, ok := files["team/dags/job.py"]; ok {
		t.Fatalf("a script that is no notebook kept its DAG: %v", keys(files))
	}

	// Another Jupytext format is reported, not guessed at.
	light := strings.Replace(script("x = 1\n", ""), "format_name: percent", "format_name: light", 1)
	rep = f.push("light", map[string]string{"light.py": light})
	if e := notebookResult(rep, "light.py").Error; !strings.Contains(e, `"light" format`) || !strings.Contains(e, "percent") {
		t.Fatalf("light format: %q", e)
	}
}
