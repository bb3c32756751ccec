package convert

import (
	stdjson "encoding/json"
	"fmt"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Jupytext's percent format (https://jupytext.readthedocs.io/en/latest/formats-scripts.html)
// stores a notebook as a .py script: an optional YAML header commented with
// "# " between "# ---" lines, then cells that each start with a "# %%" line:
//
//	# %% optional title [markdown] tags=["parameters"]
//
// Markdown and raw cells are commented out; in code cells jupytext comments
// out IPython magics ("# %pip install x"), which are read back as magics.

// IsJupytextPath reports whether a path may hold a Jupytext percent-format
// notebook (a .py file); only its content (a "# %%" line) tells for sure.
func IsJupytextPath(p string) bool { return strings.EqualFold(pathExt(p), ".py") }

// Jupytext is what a .py file's Jupytext header says about it.
type Jupytext struct {
	// Notebook is true when the file starts with a Jupytext header (a
	// commented YAML block with a jupyter: key). Only such files are
	// notebooks to a push or a directory walk: a plain module with "# %%"
	// editor cells is not, though it converts when named directly.
	Notebook bool
	// Format is the header's format_name ("percent", "light", ...).
	Format string
	// PairedIpynb is true when the header pairs the script with a .ipynb
	// (formats: ipynb,py:percent); the .ipynb is then the notebook.
	PairedIpynb bool
}

// SniffJupytext reads a .py file's Jupytext header, if it has one.
func SniffJupytext(data []byte) Jupytext {
	lines, ok := headerLines(string(data))
	if !ok {
		return Jupytext{}
	}
	var h struct {
		Jupyter map[string]any `yaml:"jupyter"`
	}
	if yaml.Unmarshal([]byte(uncomment(lines)), &h) != nil || h.Jupyter == nil {
		return Jupytext{}
	}
	j := Jupytext{Notebook: true}
	if jt, ok := h.Jupyter["jupytext"].(map[string]any); ok {
		if tr, ok := jt["text_representation"].(map[string]any); ok {
			j.Format, _ = tr["format_name"].(string)
		}
		formats, _ := jt["formats"].(string)
		for _, f := range strings.Split(formats, ",") {
			// "ipynb", or with a folder prefix "notebooks//ipynb".
			f = strings.TrimSpace(f)
			if f == "ipynb" || strings.HasSuffix(f, "/ipynb") {
				j.PairedIpynb = true
			}
		}
	}
	return j
}

// headerLines returns the lines between a leading "# ---" and the next one.
func headerLines(text string) ([]string, bool) {
	text = strings.ReplaceAll(strings.TrimPrefix(text, "\ufeff"), "\r\n", "\n")
	first, rest, _ := strings.Cut(text, "\n")
	if strings.TrimSpace(first) != "# ---" {
		return nil, false
	}
	var lines []string
	for rest != "" {
		var l string
		l, rest, _ = strings.Cut(rest, "\n")
		if strings.TrimSpace(l) == "# ---" {
			return lines, true
		}
		lines = append(lines, l)
	}
	return nil, false
}

func uncomment(lines []string) string {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(strings.TrimPrefix(strings.TrimPrefix(l, "#"), " ") + "\n")
	}
	return b.String()
}

func pathExt(p string) string {
	i := strings.LastIndexAny(p, "./\\")
	if i < 0 || p[i] != '.' {
		return ""
	}
	return p[i:]
}

// pythonLanguages are the cell languages jupytext leaves as code in a .py
// script: no magic line, body not commented.
var pythonLanguages = map[string]bool{"python": true, "python3": true, "ipython": true, "ipython3": true}

// cellMarker matches jupytext's percent cell marker: "# %%" then a space and
// options, or the end of the line ("# %%time" is a commented cell magic).
var cellMarker = regexp.MustCompile(`^#\s*%%(?:[ \t](.*))?$`)

// markerMeta reads key=JSON pairs such as tags=["a", "b"].
var markerMeta = regexp.MustCompile(`(\w+)=(\[[^\]]*\]|"[^"]*"|\S+)`)

// commentedMagic is a magic or shell escape jupytext commented out in code.
var commentedMagic = regexp.MustCompile(`^([ \t]*)# ?([%!?].*)$`)

// ParseJupytext reads a percent-format script. A script without any "# %%"
// line is not a notebook.
func ParseJupytext(path string, data []byte) (*Notebook, error) {
	text := strings.ReplaceAll(strings.TrimPrefix(string(data), "\ufeff"), "\r\n", "\n")
	lines := strings.Split(text, "\n")
	nb := &Notebook{Path: path, Format: 4}
	i := 0
	if len(lines) > 0 && strings.TrimSpace(lines[0]) == "# ---" {
		for j := 1; j < len(lines); j++ {
			if strings.TrimSpace(lines[j]) == "# ---" {
				if err := nb.jupytextHeader(lines[1:j]); err != nil {
					return nil, fmt.Errorf("%s: %w", path, err)
				}
				i = j + 1
				break
			}
		}
	}
	found := false
	for _, l := range lines[i:] {
		if cellMarker.MatchString(l) {
			found = true
			break
		}
	}
	if !found {
		return nil, fmt.Errorf("%s: not a notebook: a .py file needs Jupytext percent-format cell markers (# %%%%)", path)
	}
	type pending struct {
		typ  string
		tags []string
		body []string
		// Jupytext writes a %%sql (or %%bash, ...) cell as a marker with
		// language="sql" and magic_args, and comments its body out.
		lang, magicArgs string
	}
	var cur *pending
	flush := func() {
		if cur == nil {
			return
		}
		body := cur.body
		for len(body) > 0 && strings.TrimSpace(body[len(body)-1]) == "" {
			body = body[:len(body)-1]
		}
		for len(body) > 0 && strings.TrimSpace(body[0]) == "" && cur.typ != "code" {
			body = body[1:]
		}
		magicCell := cur.typ == "code" && cur.lang != "" && !pythonLanguages[strings.ToLower(cur.lang)]
		if cur.typ != "code" || magicCell {
			for k, l := range body {
				switch {
				case strings.HasPrefix(l, "# "):
					body[k] = l[2:]
				case strings.HasPrefix(l, "#"):
					body[k] = l[1:]
				}
			}
		} else {
			for k, l := range body {
				if m := commentedMagic.FindStringSubmatch(l); m != nil {
					body[k] = m[1] + m[2]
				}
			}
		}
		if magicCell {
			// Back to the cell jupytext read: the magic line, then the body.
			magic := "%%" + cur.lang
			if cur.magicArgs != "" {
				magic += " " + cur.magicArgs
			}
			body = append([]string{magic}, body...)
		}
		nb.Cells = append(nb.Cells, Cell{Index: len(nb.Cells), Type: cur.typ, Source: strings.Join(body, "\n"), Tags: cur.tags})
		cur = nil
	}
	for _, l := range lines[i:] {
		if m := cellMarker.FindStringSubmatch(l); m != nil {
			flush()
			cur = &pending{typ: "code"}
			opts := m[1]
			switch {
			case strings.Contains(opts, "[markdown]"), strings.Contains(opts, "[md]"):
				cur.typ = "markdown"
			case strings.Contains(opts, "[raw]"):
				cur.typ = "raw"
			}
			for _, kv := range markerMeta.FindAllStringSubmatch(opts, -1) {
				switch kv[1] {
				case "tags":
					if err := stdjson.Unmarshal([]byte(kv[2]), &cur.tags); err != nil {
						nb.Cells = append(nb.Cells, Cell{}) // keep numbering honest in the error
						return nil, fmt.Errorf("%s: cell %d: tags=%s is not a JSON list of strings", path, len(nb.Cells), kv[2])
					}
				case "language", "magic_args":
					var v string
					if err := stdjson.Unmarshal([]byte(kv[2]), &v); err != nil {
						nb.Cells = append(nb.Cells, Cell{})
						return nil, fmt.Errorf("%s: cell %d: %s=%s is not a JSON string", path, len(nb.Cells), kv[1], kv[2])
					}
					if kv[1] == "language" {
						cur.lang = v
					} else {
						cur.magicArgs = v
					}
				}
			}
			continue
		}
		if cur == nil {
			if strings.TrimSpace(l) == "" {
				continue
			}
			cur = &pending{typ: "code"} // code before the first marker
		}
		cur.body = append(cur.body, l)
	}
	flush()
	return nb, nil
}

// jupytextHeader reads the commented YAML header: jupyter.kernelspec and
// jupyter.nbpipe (the notebook's metadata.nbpipe).
func (nb *Notebook) jupytextHeader(lines []string) error {
	var h struct {
		Jupyter any `yaml:"jupyter"`
	}
	if err := yaml.Unmarshal([]byte(uncomment(lines)), &h); err != nil {
		return fmt.Errorf("invalid Jupytext header: %s", yamlErrText(err))
	}
	if h.Jupyter == nil {
		return nil
	}
	// jupyter: is the notebook's metadata, as jupytext writes it: read it
	// as a .ipynb's (kernelspec, language_info, Synapse's keys, nbpipe).
	js, err := stdjson.Marshal(h.Jupyter)
	if err != nil {
		return fmt.Errorf("invalid Jupytext header: jupyter: %v", err)
	}
	var meta struct {
		Jupytext struct {
			Text struct {
				Format string `json:"format_name"`
			} `json:"text_representation"`
		} `json:"jupytext"`
	}
	_ = stdjson.Unmarshal(js, &meta)
	if f := meta.Jupytext.Text.Format; f != "" && f != "percent" {
		return fmt.Errorf("the Jupytext header says the %q format; nbpipe reads the percent format (jupytext --update --to py:percent)", f)
	}
	if err := nb.readMetadata(js); err != nil {
		return fmt.Errorf("invalid Jupytext header: jupyter: %v", err)
	}
	return nil
}

// ScriptIsNotebook reports whether a .py file is a notebook to a push or a
// directory walk: it has a Jupytext header and is not the paired copy of a
// .ipynb that is there too. hasIpynb tells whether a .ipynb of the same
// name (NotebookStem) is in the same commit or folder tree: the pair would
// claim one dag_id twice, and the .ipynb is what Jupyter saves.
func ScriptIsNotebook(data []byte, hasIpynb bool) bool {
	j := SniffJupytext(data)
	return j.Notebook && !(j.PairedIpynb && hasIpynb)
}

// NotebookStem is a notebook's file name without folder and extension: what
// pairs a Jupytext script with its .ipynb.
func NotebookStem(p string) string {
	p = p[strings.LastIndexAny(p, "/\\")+1:]
	return strings.TrimSuffix(p, pathExt(p))
}
