package convert

import (
	"strings"
)

// jupyterOnlyModules are imported only for notebook display or for talking to
// the notebook's own Livy session; on a cluster they fail with ImportError or
// do nothing. pprint is the standard library's, kept here because its
// display helpers are stripped like print().
var jupyterOnlyModules = []string{
	"IPython", "ipywidgets", "ipykernel", "autovizwidget", "sparkmagic", "hdijupyterutils",
	"ipympl", "matplotlib_inline", "google.colab", "pprint",
}

func mentionsJupyterModule(code string) bool {
	if !strings.Contains(code, "import") {
		return false
	}
	for _, m := range jupyterOnlyModules {
		if strings.Contains(code, m) {
			return true
		}
	}
	return false
}

func jupyterModule(dotted string) string {
	for _, m := range jupyterOnlyModules {
		if dotted == m || strings.HasPrefix(dotted, m+".") {
			return m
		}
	}
	return ""
}

// importBinding is one import statement of a Jupyter-only module.
type importBinding struct {
	task, line int // task index, logical line index in its scan
	module     string
	names      []string // names it binds; nil for `from m import *`
}

// importedNames returns the module an import line names (when it is a
// Jupyter-only one) and the names it binds.
func importedNames(toks []token) (module string, names []string, ok bool) {
	if len(toks) < 2 || toks[0].kind != tokName {
		return "", nil, false
	}
	dotted := func(i int) (string, int) {
		var b strings.Builder
		for i < len(toks) && (toks[i].kind == tokName || toks[i].text == ".") {
			if toks[i].kind == tokName && b.Len() > 0 && !strings.HasSuffix(b.String(), ".") {
				break
			}
			b.WriteString(toks[i].text)
			i++
		}
		return b.String(), i
	}
	switch toks[0].text {
	case "import":
		i := 1
		for i < len(toks) {
			name, j := dotted(i)
			m := jupyterModule(name)
			if m == "" {
				return "", nil, false // mixed with other modules: left alone
			}
			module = m
			bound := strings.SplitN(name, ".", 2)[0]
			if j+1 < len(toks) && toks[j].text == "as" {
				bound = toks[j+1].text
				j += 2
			}
			names = append(names, bound)
			if j < len(toks) && toks[j].text == "," {
				j++
			} else if j < len(toks) {
				return "", nil, false
			}
			i = j
		}
		return module, names, module != ""
	case "from":
		name, j := dotted(1)
		m := jupyterModule(name)
		if m == "" || j >= len(toks) || toks[j].text != "import" {
			return "", nil, false
		}
		j++
		if j < len(toks) && toks[j].text == "*" {
			return m, nil, true
		}
		for ; j < len(toks); j++ {
			t := toks[j]
			switch {
			case t.text == "(" || t.text == ")" || t.text == ",":
			case t.text == "as" && j+1 < len(toks):
				names[len(names)-1] = toks[j+1].text
				j++
			case t.kind == tokName:
				names = append(names, t.text)
			default:
				return "", nil, false
			}
		}
		return m, names, len(names) > 0
	}
	return "", nil, false
}

// jupyterImports removes imports of Jupyter-only modules that no exported
// code uses, with a notice; the ones still used stay, with a warning, since
// they fail wherever the module is not installed.
func (b *builder) jupyterImports(m *model) {
	any := false
	for ti := range m.tasks {
		if mentionsJupyterModule(m.tasks[ti].code) {
			any = true
			break
		}
	}
	if !any {
		return // the common case: no scan
	}
	scans := make([]scanResult, len(m.tasks))
	var found []importBinding
	for ti := range m.tasks {
		scans[ti] = scanSource(m.tasks[ti].code)
		for li := range scans[ti].lines {
			l := &scans[ti].lines[li]
			if l.kind != lineCode {
				continue
			}
			if mod, names, ok := importedNames(l.toks); ok {
				found = append(found, importBinding{task: ti, line: li, module: mod, names: names})
			}
		}
	}
	if len(found) == 0 {
		return
	}
	isImport := map[[2]int]bool{}
	for _, f := range found {
		isImport[[2]int{f.task, f.line}] = true
	}
	used := map[string]bool{}
	for ti := range scans {
		for li := range scans[ti].lines {
			l := &scans[ti].lines[li]
			if isImport[[2]int{ti, li}] {
				continue
			}
			for k, t := range l.toks {
				if t.kind == tokName && (k == 0 || l.toks[k-1].text != ".") {
					used[t.text] = true
				}
			}
		}
	}
	why := make([][]string, len(m.tasks))
	for _, f := range found {
		t := &m.tasks[f.task]
		l := &scans[f.task].lines[f.line]
		cell, line := t.cells[0], 0
		if t.at != nil {
			cell, line = t.at(l.first)
		}
		var inUse []string
		for _, n := range f.names {
			if used[n] {
				inUse = append(inUse, n)
			}
		}
		switch {
		case f.names == nil:
			b.r.add(SevWarning, CodeStrippedLine, cell, line, "kept `from %s import *`: the job fails with ImportError where %s is not installed (it is a notebook-only module)", f.module, f.module)
		case len(inUse) > 0:
			b.r.add(SevWarning, CodeStrippedLine, cell, line, "kept the import of notebook-only module %s because the code uses %s: the job fails with ImportError where %s is not installed", f.module, strings.Join(inUse, ", "), f.module)
		default:
			if why[f.task] == nil {
				why[f.task] = make([]string, len(scans[f.task].lines))
			}
			why[f.task][f.line] = "notebook-only import"
		}
	}
	var kept []task
	for ti := range m.tasks {
		t := m.tasks[ti]
		if why[ti] != nil {
			code, removed := applyRemovals(t.code, scans[ti].lines, why[ti], nil)
			for _, rm := range removed {
				cell, line := t.cells[0], 0
				if t.at != nil {
					cell, line = t.at(rm.line)
				}
				b.r.add(SevNotice, CodeStrippedLine, cell, line, "removed notebook-only import (nothing uses it): %s", clip(rm.text, 80))
			}
			t.code = code
			if !hasStatements(scanSource(code).lines) {
				b.r.add(SevNotice, CodeDroppedCell, t.cells[0], 0, "dropped: no code left after removing notebook-only lines")
				if m.paramsAfter > len(kept) {
					m.paramsAfter--
				}
				continue
			}
		}
		kept = append(kept, t)
	}
	m.tasks = kept
}

func hasStatements(lines []logicalLine) bool {
	for i := range lines {
		if lines[i].kind != lineBlank {
			return true
		}
	}
	return false
}
