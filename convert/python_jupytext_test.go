package convert_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/nbpipe/nbpipe/convert"
)

// TestJupytextScriptsConvertLikeTheirNotebooks writes every corpus notebook
// as a percent script with the real jupytext (all notebook metadata kept)
// and converts both: each pair must have the same outcome, and the same
// outputs but for the notebook's file name and the white space jupytext
// normalizes (CRLF, trailing blank lines of a cell). This proves the
// reader of scripts against jupytext's own writer: cell markers, tags,
// commented magics, cell magics written as language="sql" with their body
// commented out, and the header's metadata.
func TestJupytextScriptsConvertLikeTheirNotebooks(t *testing.T) {
	v := venv(t)
	dir := t.TempDir()
	var names []string
	for _, nb := range readCorpus(t) {
		if err := os.WriteFile(filepath.Join(dir, nb.name), nb.data, 0o644); err != nil {
			t.Fatal(err)
		}
		names = append(names, nb.name)
	}
	// jupytext gives up on a few malformed notebooks (and exits 1); the
	// others are written.
	cmd := exec.Command(filepath.Join(v, "bin", "jupytext"), append([]string{"--to", "py:percent", "--opt", "notebook_metadata_filter=all"}, names...)...)
	cmd.Dir = dir
	_ = cmd.Run()
	layer, err := convert.LayerFromValues("test", map[string]any{"targets": []string{"airflow", "pyfile"}})
	if err != nil {
		t.Fatal(err)
	}
	opt := convert.Options{Layers: []convert.Layer{layer}}
	trailing := regexp.MustCompile(`\s*"""`)
	norm := func(s, stem string) string {
		s = strings.ReplaceAll(strings.ReplaceAll(s, "\r", ""), `\r`, "") // a CR, raw or escaped in a literal
		s = strings.ReplaceAll(strings.ReplaceAll(s, stem+".ipynb", "NB"), stem+".py", "NB")
		s = trailing.ReplaceAllString(s, `"""`)
		// A cell ending in a quote gets it escaped before the closing """.
		return strings.ReplaceAll(s, `\""""`, `""""`)
	}
	pairs, converted := 0, 0
	for _, name := range names {
		stem := strings.TrimSuffix(name, ".ipynb")
		script, err := os.ReadFile(filepath.Join(dir, stem+".py"))
		if err != nil {
			continue
		}
		pairs++
		nb, _ := os.ReadFile(filepath.Join(dir, name))
		a := convert.Convert(name, nb, opt)
		b := convert.Convert(stem+".py", script, opt)
		if (a.Err() == nil) != (b.Err() == nil) {
			t.Errorf("%s: the notebook's outcome %v, the script's %v", stem, a.Err(), b.Err())
			continue
		}
		if a.Err() != nil {
			continue
		}
		converted++
		if len(a.Files) != len(b.Files) {
			t.Errorf("%s: %d files from the notebook, %d from the script", stem, len(a.Files), len(b.Files))
			continue
		}
		for i := range a.Files {
			if fa, fb := norm(string(a.Files[i].Content), stem), norm(string(b.Files[i].Content), stem); fa != fb {
				t.Errorf("%s: %s differs from the script's:\n%s", stem, a.Files[i].Path, firstDiff(fa, fb))
			}
		}
	}
	t.Logf("%d notebooks written as scripts by jupytext; %d convert, with the same outputs", pairs, converted)
	if pairs < 45 || converted < 25 {
		t.Fatalf("only %d scripts (%d converting): jupytext did not write the corpus", pairs, converted)
	}
}
