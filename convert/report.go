package convert

import "fmt"

// Severity orders findings: an error refuses the notebook.
type Severity string

const (
	SevError   Severity = "error"
	SevWarning Severity = "warning"
	SevNotice  Severity = "notice"
)

// Finding is one line of a notebook's report. Cell is the 1-based position of
// the cell among all cells of the notebook (0: the notebook as a whole); Line
// is 1-based within the cell's source (0: the whole cell).
type Finding struct {
	Severity Severity `json:"severity"`
	Code     string   `json:"code"`
	Cell     int      `json:"cell,omitempty"`
	Line     int      `json:"line,omitempty"`
	Message  string   `json:"message"`
}

// Report codes, stable for machines reading --json.
const (
	CodeInvalidNotebook = "invalid-notebook"
	CodeKernel          = "unsupported-kernel"
	CodeConfig          = "config"
	CodeSyntax          = "syntax"
	CodeFragment        = "fragment"
	CodeDroppedCell     = "dropped-cell"
	CodeStrippedLine    = "stripped-line"
	CodeTag             = "tag"
	CodeConfigure       = "configure"
	CodeSQL             = "sql"
	CodeRequirement     = "requirement"
	CodeSecret          = "secret"
	CodeEmpty           = "empty"
	CodeParameters      = "parameters"
)

func (f Finding) String() string {
	loc := ""
	switch {
	case f.Cell > 0 && f.Line > 0:
		loc = fmt.Sprintf("cell %d, line %d: ", f.Cell, f.Line)
	case f.Cell > 0:
		loc = fmt.Sprintf("cell %d: ", f.Cell)
	}
	return fmt.Sprintf("%s: %s%s", f.Severity, loc, f.Message)
}

type reporter struct {
	findings []Finding
}

func (r *reporter) add(sev Severity, code string, cell, line int, format string, args ...any) {
	msg := redactSecrets(fmt.Sprintf(format, args...))
	r.findings = append(r.findings, Finding{Severity: sev, Code: code, Cell: cell, Line: line, Message: msg})
}

func (r *reporter) errors() int {
	n := 0
	for _, f := range r.findings {
		if f.Severity == SevError {
			n++
		}
	}
	return n
}
