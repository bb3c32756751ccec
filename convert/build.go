package convert

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// task is one exported unit of code: a cell, or several cells merged because
// the first ones were incomplete fragments.
type task struct {
	id       string
	cells    []int // 1-based cell numbers
	kind     string
	code     string
	tags     cellTags
	upstream []string
	at       func(line int) (cell, cellLine int) // maps a line of code to the notebook
}

// model is everything the renderers need; it holds only validated values.
type model struct {
	source       Source
	notebook     string
	cfg          Config
	tasks        []task
	session      map[string]any
	params       []param
	paramsAfter  int // index of the task after which params apply; -1: before the first
	doc          string
	requirements []string
}

type builder struct {
	nb     *Notebook
	cfg    Config
	r      *reporter
	fmCell int
	kernel kernelInfo
	sess   sessions
	// explicit holds the keys the configuration sets (any layer but the
	// built-in defaults): they win over the parameters cell's settings.
	explicit map[string]bool
}

// unit is a code cell (or merged group) waiting to become a task.
type unit struct {
	cls  classified
	tags []string
	segs []segment
	body string
	sr   scanResult // the scan of body, when srOK
	srOK bool
}

// segment maps lines of a merged body back to the cell they came from.
type segment struct {
	cell, bodyLine, start int
}

func (u *unit) lineOf(line int) (cell, cellLine int) {
	s := u.segs[0]
	for _, sg := range u.segs {
		if sg.start <= line {
			s = sg
		}
	}
	return s.cell, s.bodyLine + line - s.start
}

func (u *unit) firstCell() int { return u.segs[0].cell }

func (b *builder) build() *model {
	m := &model{cfg: b.cfg, paramsAfter: -1}
	configure := map[string]any{}
	var docs []string
	var units []unit
	for i := range b.nb.Cells {
		c := &b.nb.Cells[i]
		num := i + 1
		if i == 0 && b.fmCell == 0 {
			continue
		}
		switch c.Type {
		case "markdown":
			if t := strings.TrimSpace(c.Source); t != "" {
				docs = append(docs, t)
			}
			continue
		case "raw":
			continue
		}
		if c.MetaTagError != "" {
			b.r.add(SevWarning, CodeTag, num, 0, "%s", c.MetaTagError)
		}
		if strings.TrimSpace(c.Source) == "" {
			continue
		}
		b.sess.observe(c.Source)
		cls := classify(c, b.kernel, &b.sess)
		if cls.kind == kindConfigure {
			b.configure(cls, num, configure)
			continue
		}
		units = append(units, unit{cls: cls, tags: c.Tags, body: cls.body,
			segs: []segment{{cell: num, bodyLine: cls.bodyLine, start: 1}}})
	}
	units = b.mergeFragments(units)
	if b.r.errors() > 0 {
		return m
	}
	enabled := map[string]bool{}
	for _, k := range b.cfg.EnabledCellKinds {
		enabled[k] = true
	}
	paramsSeen := false
	for ui := range units {
		u := &units[ui]
		cell := u.firstCell()
		var tags cellTags
		parseTags(&tags, u.tags, cell, b.r)
		if b.cfg.Mode == "batch" {
			b.batchTags(&tags, cell)
		}
		switch {
		case u.cls.dropWhy != "":
			sev := SevNotice
			if strings.HasPrefix(u.cls.dropWhy, "unknown") || u.cls.otherSession {
				sev = SevWarning
			}
			b.r.add(sev, CodeDroppedCell, cell, 0, "dropped: %s", u.cls.dropWhy)
			continue
		case tags.skip:
			b.r.add(SevNotice, CodeDroppedCell, cell, 0, "dropped: tagged skip")
			continue
		case !enabled[u.cls.kind]:
			b.r.add(SevNotice, CodeDroppedCell, cell, 0, "dropped: %s cell (enabled_cell_kinds: %s)", u.cls.kind, strings.Join(b.cfg.EnabledCellKinds, ", "))
			continue
		case u.cls.foreign != "":
			b.r.add(SevError, CodeKernel, cell, 0, "this cell is %s, not Python: nbpipe exports Python and %%%%sql cells (tag it skip, or make it a %%%%sql cell)", u.cls.foreign)
			continue
		}
		t := task{tags: tags, kind: u.cls.kind, at: u.lineOf}
		for _, s := range u.segs {
			t.cells = append(t.cells, s.cell)
		}
		if u.cls.kind == kindSQL {
			code, ok := sqlCell(u.cls.args, u.body, cell, u.cls.bodyLine, b.r)
			if !ok || code == "" {
				continue
			}
			t.code = code
		} else {
			code, ok := b.python(u, m)
			if !ok {
				continue
			}
			t.code = code
		}
		for _, w := range u.cls.wrappers {
			b.r.add(SevNotice, CodeStrippedLine, cell, u.cls.bodyLine-1, "removed cell magic %s (its body is kept)", w)
		}
		if hits := scanSecrets(u.body); len(hits) > 0 {
			for _, h := range hits {
				c, l := u.lineOf(h.line)
				b.secret(c, l, h.what)
			}
		}
		if !tags.parameters && paramsMarker(u.body) {
			tags.parameters = true
			b.r.add(SevNotice, CodeParameters, cell, 0, "the # @pipeline-params marker makes this the parameters cell")
		}
		if tags.parameters {
			if paramsSeen {
				b.r.add(SevWarning, CodeParameters, cell, 0, "a second cell tagged parameters: only the first one's values become parameters")
			} else {
				paramsSeen = true
				m.paramsAfter = len(m.tasks)
				sr := u.sr
				if !u.srOK {
					sr = scanSource(u.body)
				}
				m.params = b.pipelineSettings(m, readParameters(sr, u.body, cell, u.lineOf, b.r), cell)
			}
		}
		m.tasks = append(m.tasks, t)
	}
	if len(m.tasks) == 0 && b.r.errors() == 0 {
		b.r.add(SevError, CodeEmpty, 0, 0, "nothing to export: no code cell of an enabled kind (%s)", strings.Join(b.cfg.EnabledCellKinds, ", "))
		return m
	}
	b.jupyterImports(m)
	if b.cfg.Mode == "per_cell" && b.taskIDs(m) {
		b.edges(m)
	} else if b.cfg.Mode == "batch" {
		b.taskIDs(m)
	}
	m.params = mergeParams(m.params, b.cfg.Params)
	m.session = sessionConf(b.cfg, configure)
	m.doc = docText(docs)
	if hits := scanSecrets(m.doc); len(hits) > 0 {
		b.secret(0, 0, hits[0].what+" in the markdown that becomes doc_md")
	}
	if !b.frontMatterSecrets() {
		b.configSecrets(m) // the merged settings, from every layer
	}
	m.requirements = sortedUnique(m.requirements)
	return m
}

func (b *builder) secret(cell, line int, what string) {
	if b.cfg.AllowSecrets {
		b.r.add(SevWarning, CodeSecret, cell, line, "possible %s (allowed by allow_secrets)", what)
		return
	}
	b.r.add(SevError, CodeSecret, cell, line, "possible %s: move it to a secret store or an Airflow connection (allow_secrets: true overrides)", what)
}

func (b *builder) configSecrets(m *model) {
	var texts []string
	for _, k := range sortedKeys(b.cfg.SparkConf) {
		texts = append(texts, k+" = "+pyStr(b.cfg.SparkConf[k]))
	}
	for _, p := range m.params {
		if s, ok := p.value.(string); ok {
			texts = append(texts, p.name+" = "+pyStr(s))
		}
	}
	texts = append(texts, "args = "+pyStr(b.cfg.Args))
	if hits := scanSecrets(strings.Join(texts, "\n")); len(hits) > 0 {
		b.secret(0, 0, hits[0].what+" in the configuration")
	}
}

// frontMatterSecrets scans the notebook's own settings as written: the
// front matter cell and metadata.nbpipe.
func (b *builder) frontMatterSecrets() bool {
	found := false
	if b.fmCell == 0 {
		for _, h := range scanSecrets(b.nb.Cells[0].Source) {
			b.secret(1, h.line, h.what+" in the front matter")
			found = true
		}
	}
	if b.nb.Metadata != nil {
		if hits := scanSecrets(string(b.nb.Metadata)); len(hits) > 0 {
			b.secret(0, 0, hits[0].what+" in metadata.nbpipe")
			found = true
		}
	}
	return found
}

// configure reads a %%configure [-f] {json} cell into Livy session settings.
func (b *builder) configure(cls classified, cell int, into map[string]any) {
	body := strings.TrimSpace(cls.body)
	if body == "" {
		b.r.add(SevWarning, CodeConfigure, cell, 0, "empty %%%%configure cell ignored")
		return
	}
	// The settings are copied into the DAG: the same secret rules apply.
	for _, h := range scanSecrets(cls.body) {
		b.secret(cell, cls.bodyLine+h.line-1, h.what+" in %%configure")
	}
	v, err := decodeJSONValue([]byte(body))
	obj, ok := v.(map[string]any)
	if err != nil || !ok {
		msg := "not a JSON object"
		if err != nil {
			msg = err.Error()
		}
		b.r.add(SevError, CodeConfigure, cell, cls.bodyLine, "%%%%configure body is not valid JSON: %s", msg)
		return
	}
	for _, k := range sortedKeys(obj) {
		if !livySessionKeys[k] {
			b.r.add(SevWarning, CodeConfigure, cell, 0, "%%%%configure key %q is not a Livy session setting; ignored%s", k, didYouMean(k, sortedKeys(livySessionKeys)))
			continue
		}
		if k == "kind" {
			continue
		}
		if k == "name" {
			b.r.add(SevNotice, CodeConfigure, cell, 0, "%%%%configure name: each Livy session gets the name with a unique suffix (Livy refuses a name in use, so retries and concurrent runs would fail)")
		}
		into[k] = obj[k]
	}
	b.r.add(SevNotice, CodeConfigure, cell, 0, "%%%%configure applied to the Spark session settings")
}

// mergeFragments joins each syntactically incomplete Python cell with the
// next code cell, as the notebook author evidently meant one statement.
func (b *builder) mergeFragments(units []unit) []unit {
	var out []unit
	for i := 0; i < len(units); i++ {
		u := units[i]
		if !isPythonKind(u.cls.kind) || u.cls.dropWhy != "" || u.cls.foreign != "" {
			out = append(out, u)
			continue
		}
		for {
			u.sr = scanSource(u.body)
			u.srOK = true
			why := u.sr.incomplete()
			if why == "" {
				break
			}
			if i+1 >= len(units) || !isPythonKind(units[i+1].cls.kind) || units[i+1].cls.dropWhy != "" || units[i+1].cls.foreign != "" {
				c, l := u.lineOf(strings.Count(strings.TrimRight(u.body, "\n"), "\n") + 1)
				next := "it is the last code cell"
				if i+1 < len(units) {
					next = fmt.Sprintf("the next code cell (cell %d) is a %s cell", units[i+1].firstCell(), units[i+1].cls.kind)
				}
				b.r.add(SevError, CodeFragment, c, l, "incomplete code (%s) and %s, so it cannot be merged", why, next)
				break
			}
			i++
			n := units[i]
			b.r.add(SevNotice, CodeFragment, u.firstCell(), 0, "merged with cell %d: %s", n.firstCell(), why)
			if !strings.HasSuffix(u.body, "\n") {
				u.body += "\n"
			}
			start := strings.Count(u.body, "\n") + 1
			for _, s := range n.segs {
				u.segs = append(u.segs, segment{cell: s.cell, bodyLine: s.bodyLine, start: start + s.start - 1})
			}
			if n.cls.raw != "" && len(n.segs) == 1 {
				n.body = n.cls.raw // a continuation keeps its indent
			}
			u.body += n.body
			u.srOK = false
			u.tags = append(append([]string{}, u.tags...), n.tags...)
			u.cls.wrappers = append(u.cls.wrappers, n.cls.wrappers...)
		}
		out = append(out, u)
	}
	return out
}

func incompleteReason(src string) string {
	sr := scanSource(src)
	return sr.incomplete()
}

// python checks and sanitizes one Python unit.
func (b *builder) python(u *unit, m *model) (string, bool) {
	sr := u.sr
	if !u.srOK {
		sr = scanSource(u.body)
		u.sr, u.srOK = sr, true
	}
	issues := append([]syntaxIssue{}, sr.issues...)
	for _, is := range statementIssues(sr.lines) {
		// print statements are removed with print() calls (strip_print).
		if !(is.py2print && b.cfg.StripPrint) {
			issues = append(issues, is)
		}
	}
	sort.SliceStable(issues, func(i, j int) bool { return issues[i].line < issues[j].line })
	for _, is := range issues {
		c, l := u.lineOf(is.line)
		b.r.add(SevError, CodeSyntax, c, l, "%s", is.msg)
	}
	if len(issues) > 0 {
		return "", false
	}
	s := sanitize(u.body, sr, sanitizeOptions{stripPrint: b.cfg.StripPrint, stripDisplay: b.cfg.StripDisplay})
	for _, rm := range s.removed {
		c, l := u.lineOf(rm.line)
		b.r.add(SevNotice, CodeStrippedLine, c, l, "removed %s: %s", rm.reason, clip(redactSecrets(rm.text), 80))
	}
	if len(s.requirements) > 0 {
		b.r.add(SevNotice, CodeRequirement, u.firstCell(), 0, "requirements collected: %s", strings.Join(s.requirements, " "))
		m.requirements = append(m.requirements, s.requirements...)
	}
	if s.statements == 0 {
		b.r.add(SevNotice, CodeDroppedCell, u.firstCell(), 0, "dropped: no code left after removing notebook-only lines")
		return "", false
	}
	// The exact check, on the code as it will run: compile() must accept it.
	if err := checkPython(s.code); err != nil {
		c, l := u.lineOf(err.line)
		b.r.add(SevError, CodeSyntax, c, l, "%s", err.msg)
		return "", false
	}
	return s.code, true
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// taskIDs names tasks: the task: tag, else cell_<n> by export order. In
// per_cell mode a task id used twice is an error naming both cells (and the
// dependencies are not resolved: they would name the wrong task); batch mode
// runs one task, so its cells' names only label errors.
func (b *builder) taskIDs(m *model) bool {
	used := map[string]int{}
	ok := true
	for i := range m.tasks {
		t := &m.tasks[i]
		if t.tags.task != "" {
			t.id = t.tags.task
		} else {
			t.id = fmt.Sprintf("cell_%d", i)
		}
		if prev, dup := used[t.id]; dup && b.cfg.Mode == "per_cell" {
			how := "task:" + t.id + " tag"
			if t.tags.task == "" {
				how = "generated id " + t.id
			}
			b.r.add(SevError, CodeTag, t.cells[0], 0, "duplicate task id %q: the %s is already used by cell %d (task ids must be unique in per_cell mode)", t.id, how, prev)
			ok = false
			continue
		}
		used[t.id] = t.cells[0]
	}
	return ok
}

// batchTags warns about per-task tags in batch mode, where the whole notebook
// is one task whose settings come from the notebook's configuration.
func (b *builder) batchTags(t *cellTags, cell int) {
	var set []string
	if t.retries != nil {
		set = append(set, "retries: (use retries)")
		t.retries = nil
	}
	if t.timeout != 0 {
		set = append(set, "timeout: (use execution_timeout)")
		t.timeout = 0
	}
	if t.pool != "" {
		set = append(set, "pool: (use pool)")
		t.pool = ""
	}
	if t.triggerRule != "" {
		set = append(set, "trigger_rule:")
		t.triggerRule = ""
	}
	if len(t.after) > 0 {
		set = append(set, "after:")
		t.after = nil
	}
	if len(set) > 0 {
		b.r.add(SevWarning, CodeTag, cell, 0, "batch mode runs the notebook as one task, so the tags %s have no effect: set them in the front matter, or use mode: per_cell", strings.Join(set, ", "))
	}
}

// paramsMarker reports whether a cell starts with the seed's
// `# @pipeline-params` comment, which marks the parameters cell.
func paramsMarker(src string) bool {
	for _, line := range strings.Split(src, "\n") {
		t := strings.TrimSpace(line)
		if t == "" {
			continue
		}
		if !strings.HasPrefix(t, "#") {
			return false
		}
		if strings.EqualFold(strings.Join(strings.Fields(strings.TrimPrefix(t, "#")), " "), "@pipeline-params") {
			return true
		}
	}
	return false
}

// pipelineSettings takes the seed's settings out of the parameters cell:
// spark_image is the session image, cron/cron_expression the schedule. The
// notebook's front matter (or a locked server setting) wins over them.
func (b *builder) pipelineSettings(m *model, params []param, cell int) []param {
	var out []param
	for _, p := range params {
		s, isStr := p.value.(string)
		switch p.name {
		case "spark_image":
			if !isStr || strings.TrimSpace(s) == "" {
				b.r.add(SevWarning, CodeParameters, cell, 0, "spark_image in the parameters cell is not a string; ignored")
			} else if b.explicit["spark_image"] {
				b.r.add(SevNotice, CodeParameters, cell, 0, "spark_image in the parameters cell ignored: the configuration sets it")
			} else {
				b.cfg.SparkImage, m.cfg.SparkImage = s, s
				b.r.add(SevNotice, CodeParameters, cell, 0, "spark_image from the parameters cell is the Spark session image")
			}
		case "cron", "cron_expression":
			switch {
			case !isStr || validateCron(s) != nil:
				b.r.add(SevWarning, CodeParameters, cell, 0, "%s in the parameters cell is not a 5-field cron expression; ignored", p.name)
			case b.explicit["schedule"] || b.explicit["cron_expression"]:
				b.r.add(SevNotice, CodeParameters, cell, 0, "%s in the parameters cell ignored: the configuration sets the schedule", p.name)
			default:
				sched := s
				b.cfg.Schedule, m.cfg.Schedule = &sched, &sched
				b.cfg.CronExpression, m.cfg.CronExpression = s, s
				b.r.add(SevNotice, CodeParameters, cell, 0, "%s from the parameters cell is the schedule (%s)", p.name, s)
			}
		default:
			out = append(out, p)
		}
	}
	return out
}

// edges resolves after: tags into upstream lists; tasks without after: follow
// the previous task, so a notebook without after: tags is a chain.
func (b *builder) edges(m *model) {
	index := map[string]int{}
	for i, t := range m.tasks {
		index[t.id] = i
	}
	for i := range m.tasks {
		t := &m.tasks[i]
		if len(t.tags.after) == 0 {
			if i > 0 {
				t.upstream = []string{m.tasks[i-1].id}
			}
			continue
		}
		seen := map[string]bool{}
		for _, a := range t.tags.after {
			switch _, ok := index[a]; {
			case a == t.id:
				b.r.add(SevError, CodeTag, t.cells[0], 0, "after:%s names the cell's own task", a)
			case !ok:
				b.r.add(SevError, CodeTag, t.cells[0], 0, "after:%s names no task%s", a, didYouMean(a, sortedKeys(index)))
			case !seen[a]:
				seen[a] = true
				t.upstream = append(t.upstream, a)
			}
		}
	}
	// Depth-first search for cycles.
	state := make([]int, len(m.tasks))
	var visit func(i int) bool
	visit = func(i int) bool {
		state[i] = 1
		for _, u := range m.tasks[i].upstream {
			j := index[u]
			if state[j] == 1 || (state[j] == 0 && visit(j)) {
				return true
			}
		}
		state[i] = 2
		return false
	}
	for i := range m.tasks {
		if state[i] == 0 && visit(i) {
			b.r.add(SevError, CodeTag, m.tasks[i].cells[0], 0, "after: tags form a cycle through task %q", m.tasks[i].id)
			return
		}
	}
}

// mergeParams adds the config's params over the notebook's parameters cell.
func mergeParams(nb []param, cfg map[string]any) []param {
	out := append([]param{}, nb...)
	for _, k := range sortedKeys(cfg) {
		found := false
		for i := range out {
			if out[i].name == k {
				out[i].value, found = cfg[k], true
			}
		}
		if !found {
			out = append(out, param{name: k, value: cfg[k]})
		}
	}
	return out
}

// maxDoc bounds doc_md; the notebook stays the full documentation.
const maxDoc = 32 << 10

func docText(docs []string) string {
	s := strings.Join(docs, "\n\n")
	if len(s) > maxDoc {
		cut := strings.LastIndexByte(s[:maxDoc], '\n')
		if cut < 0 {
			cut = maxDoc
		}
		s = s[:cut] + "\n\n(truncated: the notebook has the rest)"
	}
	return s
}

// timeoutSeconds is a task's execution timeout, 0 for none.
func (t *task) timeoutSeconds() int { return int(t.tags.timeout / time.Second) }
