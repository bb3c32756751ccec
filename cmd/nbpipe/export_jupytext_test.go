package main

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nbpipe/nbpipe/convert"
)

// jupytextScript is a percent script as jupytext 1.x writes it.
const jupytextScript = `# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Sales

# %%
total = spark.range(10).count()
`

// TestExportJupytextScript: export writes the settings under jupyter.nbpipe
// in a script's header, keeps every other header line and every cell as they
// were, adds a header to a script without one, and the result converts with
// those settings.
func TestExportJupytextScript(t *testing.T) {
	for _, tc := range []struct{ name, script string }{
		{"with a header", jupytextScript},
		{"without a header", jupytextScript[strings.Index(jupytextScript, "# %% [markdown]"):]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "sales.py")
			writeFile(t, p, tc.script)
			code, stdout, stderr := runCLI(t, "export", p, "--no-commit", "--dag-id", "sales_daily", "--schedule", "@daily", "--tags", "sales,daily")
			if code != 0 || !strings.Contains(stdout, `jupyter.nbpipe {"dag_id":"sales_daily","schedule":"@daily","tags":["sales","daily"]}`) {
				t.Fatalf("export: %d\n%s%s", code, stdout, stderr)
			}
			got := readFile(t, p)
			for _, l := range strings.Split(tc.script, "\n") {
				if !strings.Contains(got, l+"\n") {
					t.Errorf("line %q lost:\n%s", l, got)
				}
			}
			if !strings.Contains(got, "#   nbpipe:\n#     dag_id: sales_daily\n#     schedule: '@daily'\n#     tags:\n#       - sales\n#       - daily\n# ---\n") {
				t.Errorf("header:\n%s", got)
			}
			res := convert.Convert("sales.py", []byte(got), convert.Options{})
			if err := res.Err(); err != nil || res.DagID != "sales_daily" || res.Deploy.Config.Schedule == nil || *res.Deploy.Config.Schedule != "@daily" {
				t.Fatalf("converts to %s (%v)", res.DagID, err)
			}
			// Unsetting a key leaves the others.
			if code, stdout, stderr := runCLI(t, "export", p, "--no-commit", "--unset", "tags"); code != 0 || strings.Contains(readFile(t, p), "- sales") {
				t.Fatalf("unset: %d\n%s%s", code, stdout, stderr)
			}
			if !convert.ScriptIsNotebook([]byte(readFile(t, p)), false) {
				t.Error("the exported script is not a notebook to a push")
			}
		})
	}
	// A header that is not YAML is an error, and nothing is written.
	p := filepath.Join(t.TempDir(), "bad.py")
	bad := "# ---\n# jupyter: [\n# ---\n\n# %%\nx = 1\n"
	writeFile(t, p, bad)
	if code, _, stderr := runCLI(t, "export", p, "--no-commit", "--dag-id", "x"); code == 0 || !strings.Contains(stderr, "invalid Jupytext header") || readFile(t, p) != bad {
		t.Fatalf("a bad header: exit %d %s", code, stderr)
	}
}

// TestExportedScriptReadByJupytext: the real jupytext reads the header export
// wrote, and the notebook it makes carries the settings in metadata.nbpipe,
// so a paired .ipynb gets them too.
func TestExportedScriptReadByJupytext(t *testing.T) {
	venv := needPythonTier(t)
	p := filepath.Join(t.TempDir(), "sales.py")
	writeFile(t, p, jupytextScript)
	if code, stdout, stderr := runCLI(t, "export", p, "--no-commit", "--dag-id", "sales_daily", "--retries", "2"); code != 0 {
		t.Fatalf("export: %d\n%s%s", code, stdout, stderr)
	}
	out, err := exec.Command(filepath.Join(venv, "bin", "jupytext"), "--to", "ipynb", "--output", "-", p).Output()
	if err != nil {
		t.Fatalf("jupytext: %v", err)
	}
	var nb struct {
		Metadata struct {
			Nbpipe map[string]any `json:"nbpipe"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(out, &nb); err != nil {
		t.Fatal(err)
	}
	if nb.Metadata.Nbpipe["dag_id"] != "sales_daily" || nb.Metadata.Nbpipe["retries"] != float64(2) {
		t.Fatalf("jupytext's notebook has metadata.nbpipe %v", nb.Metadata.Nbpipe)
	}
	res := convert.Convert("sales.ipynb", out, convert.Options{})
	if err := res.Err(); err != nil || res.DagID != "sales_daily" {
		t.Fatalf("the .ipynb jupytext made converts to %s (%v)", res.DagID, err)
	}
}
