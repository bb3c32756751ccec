package convert

import (
	"fmt"
	"strings"
)

// The scanner splits IPython cell source into logical lines the way Python's
// tokenizer does (bracket and backslash joins, multi-line strings, f-string
// replacement fields) and recognises IPython's own syntax (line magics, shell
// escapes, help) that the Python tokenizer would reject. It never rewrites
// source: sanitizing works on whole logical lines, so string contents are
// never touched.

type lineKind int

const (
	lineCode  lineKind = iota // a Python logical line
	lineBlank                 // blank or comment-only physical line
	lineMagic                 // %magic, or x = %magic
	lineShell                 // !cmd, or x = !cmd
	lineHelp                  // obj?, ?obj, obj??
)

type tokKind int

const (
	tokName tokKind = iota
	tokNumber
	tokString
	tokOp
)

type token struct {
	kind tokKind
	text string
	line int // 1-based physical line within the scanned source
}

// logicalLine is one statement line. start and end are byte offsets into the
// source; end excludes the terminating newline.
type logicalLine struct {
	kind       lineKind
	start, end int
	first      int // first physical line, 1-based
	last       int // last physical line, 1-based
	indent     int // width of leading white space, tabs to multiples of 8
	toks       []token
}

func (l *logicalLine) text(src string) string { return src[l.start:l.end] }

// lastTok returns the last significant token, or the zero token.
func (l *logicalLine) lastTok() token {
	if len(l.toks) == 0 {
		return token{}
	}
	return l.toks[len(l.toks)-1]
}

// isHeader reports whether the line opens an indented block.
func (l *logicalLine) isHeader() bool {
	t := l.lastTok()
	return l.kind == lineCode && t.kind == tokOp && t.text == ":"
}

func (l *logicalLine) isDecorator() bool {
	return l.kind == lineCode && len(l.toks) > 0 && l.toks[0].kind == tokOp && l.toks[0].text == "@"
}

// syntaxIssue is a problem the scanner can prove without a full parser.
type syntaxIssue struct {
	line     int
	msg      string
	py2print bool // a Python 2 print statement, which sanitizing can remove
}

type scanResult struct {
	lines []logicalLine
	// open is non-empty when the source ends inside a statement (an open
	// bracket, triple-quoted string or backslash continuation): the cell is a
	// fragment that continues in the next cell.
	open   string
	issues []syntaxIssue
}

// incomplete reports whether the scanned source cannot stand alone and so is
// merged with the following cell.
func (r *scanResult) incomplete() string {
	if r.open != "" {
		return r.open
	}
	for i := len(r.lines) - 1; i >= 0; i-- {
		l := &r.lines[i]
		if l.kind == lineBlank {
			continue
		}
		if l.isHeader() {
			return "block header without a body at line " + fmt.Sprint(l.first)
		}
		if l.isDecorator() {
			return "decorator without a definition at line " + fmt.Sprint(l.first)
		}
		break
	}
	return ""
}

type scanner struct {
	arena  []token // every line's tokens, in one allocation
	tstart int     // where the current line's tokens start in arena
	src    string
	pos    int
	line   int
	depth  []byte
	res    scanResult
	cur    *logicalLine
	broken bool // an unterminated single-quoted string ended the line
}

func scanSource(src string) scanResult {
	s := &scanner{src: src, line: 1, arena: make([]token, 0, len(src)/4+4)}
	for s.pos < len(s.src) {
		s.logical()
	}
	return s.res
}

func (s *scanner) issue(line int, format string, args ...any) {
	s.res.issues = append(s.res.issues, syntaxIssue{line: line, msg: fmt.Sprintf(format, args...)})
}

// logical scans one logical line starting at s.pos (the start of a physical line).
func (s *scanner) logical() {
	start, first := s.pos, s.line
	indent := 0
	for s.pos < len(s.src) {
		switch s.src[s.pos] {
		case ' ':
			indent++
		case '\t':
			indent = indent/8*8 + 8
		case '\f':
			indent = 0
		default:
			goto body
		}
		s.pos++
	}
body:
	ll := logicalLine{start: start, first: first, indent: indent}
	if s.pos >= len(s.src) || s.src[s.pos] == '\n' || s.src[s.pos] == '\r' || s.src[s.pos] == '#' {
		ll.kind = lineBlank
		s.toEOL()
		s.finish(&ll)
		return
	}
	switch s.src[s.pos] {
	case '%':
		ll.kind = lineMagic
		s.escapeLine()
		s.finish(&ll)
		return
	case '!':
		ll.kind = lineShell
		s.escapeLine()
		s.finish(&ll)
		return
	case '?':
		ll.kind = lineHelp
		s.toEOL()
		s.finish(&ll)
		return
	}
	if automagicInstall(s.src[s.pos:]) {
		// IPython's automagic: a bare `pip install x` runs %pip.
		ll.kind = lineMagic
		s.escapeLine()
		s.finish(&ll)
		return
	}
	ll.kind = lineCode
	s.tstart = len(s.arena)
	s.cur = &ll
	s.depth = s.depth[:0]
	s.broken = false
	s.python()
	s.cur = nil
	s.finish(&ll)
}

// finish records the line, consuming the newline that ends it.
func (s *scanner) finish(ll *logicalLine) {
	ll.end = s.pos
	ll.last = s.line
	if ll.end > ll.start && s.src[ll.end-1] == '\r' {
		ll.end--
	}
	if s.pos < len(s.src) && s.src[s.pos] == '\n' {
		s.pos++
		s.line++
	}
	s.res.lines = append(s.res.lines, *ll)
}

// toEOL moves to the next '\n' (not consumed).
func (s *scanner) toEOL() {
	if i := strings.IndexByte(s.src[s.pos:], '\n'); i >= 0 {
		s.pos += i
	} else {
		s.pos = len(s.src)
	}
}

// escapeLine consumes an IPython escape line with its backslash continuations.
func (s *scanner) escapeLine() {
	for {
		s.toEOL()
		body := strings.TrimRight(s.src[:s.pos], "\r")
		if strings.HasSuffix(body, "\\") && s.pos < len(s.src) && strings.TrimSpace(s.src[s.pos:]) != "" {
			s.pos++
			s.line++
			continue
		}
		if strings.HasSuffix(body, "\\") {
			s.res.open = "line continuation at the end of the cell"
		}
		return
	}
}

func (s *scanner) add(kind tokKind, text string, line int) {
	s.arena = append(s.arena, token{kind: kind, text: text, line: line})
	s.cur.toks = s.arena[s.tstart:len(s.arena):len(s.arena)]
}

var pyOps3 = []string{"**=", "//=", ">>=", "<<=", "...", "!=", "->", ":="}
var pyOps2 = []string{"**", "//", ">>", "<<", "<=", ">=", "==", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "@="}

// python scans Python tokens up to the end of the logical line.
func (s *scanner) python() {
	for s.pos < len(s.src) {
		c := s.src[s.pos]
		switch {
		case c == ' ' || c == '\t' || c == '\f' || c == '\r':
			s.pos++
		case c == '\n':
			if len(s.depth) == 0 {
				return
			}
			s.pos++
			s.line++
		case c == '#':
			s.toEOL()
		case c == '\\':
			rest := s.src[s.pos+1:]
			switch {
			case strings.HasPrefix(rest, "\n"), strings.HasPrefix(rest, "\r\n"):
				s.pos += 1 + strings.IndexByte(rest, '\n') + 1
				s.line++
				if strings.TrimSpace(s.src[s.pos:]) == "" {
					s.pos = len(s.src)
					s.res.open = "line continuation at the end of the cell"
					return
				}
			case strings.TrimSpace(rest) == "":
				s.pos = len(s.src)
				s.res.open = "line continuation at the end of the cell"
				return
			default:
				s.issue(s.line, "unexpected character after line continuation")
				s.pos++
			}
		case c == '"' || c == '\'':
			s.str("", s.line)
		case isIdentStart(c):
			s.nameOrString()
		case isDigit(c) || (c == '.' && s.pos+1 < len(s.src) && isDigit(s.src[s.pos+1])):
			s.number()
		case c == '(' || c == '[' || c == '{':
			s.depth = append(s.depth, c)
			s.add(tokOp, string(c), s.line)
			s.pos++
		case c == ')' || c == ']' || c == '}':
			want := map[byte]byte{')': '(', ']': '[', '}': '{'}[c]
			if n := len(s.depth); n > 0 && s.depth[n-1] == want {
				s.depth = s.depth[:n-1]
			} else {
				s.issue(s.line, "unmatched %q", string(c))
			}
			s.add(tokOp, string(c), s.line)
			s.pos++
		case c == '?':
			s.help()
			return
		case (c == '!' || c == '%') && s.assignEscape():
			if c == '!' {
				s.cur.kind = lineShell
			} else {
				s.cur.kind = lineMagic
			}
			s.depth = s.depth[:0]
			s.escapeLine()
			return
		default:
			s.op()
		}
	}
	if len(s.depth) > 0 && s.res.open == "" {
		s.res.open = fmt.Sprintf("unclosed %q", string(s.depth[len(s.depth)-1]))
	}
}

// assignEscape reports whether the line so far is an assignment target and
// `=`, where IPython accepts `target = !cmd` and `target = %magic`.
func (s *scanner) assignEscape() bool {
	t := s.cur.toks
	return len(t) >= 2 && len(s.depth) == 0 && t[len(t)-1].text == "=" && (t[0].kind == tokName || t[0].text == "(" || t[0].text == "[")
}

func (s *scanner) help() {
	// obj? and obj?? : the tokens so far must be a dotted name and only ?s and
	// a comment may follow on the physical line.
	// Names, dots and * wildcards (np.*load*?).
	dotted := len(s.cur.toks) > 0
	for _, t := range s.cur.toks {
		if t.kind != tokName && t.text != "." && t.text != "*" {
			dotted = false
		}
	}
	line := s.line
	s.toEOL()
	rest := strings.TrimSpace(s.src[strings.LastIndexByte(s.src[:s.pos], '?')+1 : s.pos])
	if dotted && len(s.depth) == 0 && (rest == "" || strings.HasPrefix(rest, "#")) {
		s.cur.kind = lineHelp
		return
	}
	s.issue(line, "invalid character '?'")
}

func (s *scanner) op() {
	rest := s.src[s.pos:]
	for _, ops := range [][]string{pyOps3, pyOps2} {
		for _, op := range ops {
			if strings.HasPrefix(rest, op) {
				s.add(tokOp, op, s.line)
				s.pos += len(op)
				return
			}
		}
	}
	c := s.src[s.pos]
	if !strings.ContainsRune("+-*/%&|^~<>=.,:;@", rune(c)) {
		s.issue(s.line, "invalid character %q", string(c))
	}
	s.add(tokOp, string(c), s.line)
	s.pos++
}

func (s *scanner) number() {
	start := s.pos
	hex := strings.HasPrefix(strings.ToLower(s.src[s.pos:]), "0x")
	for s.pos < len(s.src) {
		c := s.src[s.pos]
		if isIdentChar(c) || c == '.' {
			s.pos++
			continue
		}
		if (c == '+' || c == '-') && !hex && (s.src[s.pos-1] == 'e' || s.src[s.pos-1] == 'E') {
			s.pos++
			continue
		}
		break
	}
	text := s.src[start:s.pos]
	switch {
	case len(text) > 1 && text[0] == '0' && isDigit(text[1]) && strings.Trim(text, "0_") != "" && !strings.ContainsAny(text, ".eEjJ"):
		s.issue(s.line, "Python 2 octal literal %s (write 0o%s)", text, strings.TrimLeft(text, "0"))
	case strings.HasSuffix(text, "L") || strings.HasSuffix(text, "l"):
		if !hex || !strings.ContainsAny(text[2:len(text)-1], "lL") {
			s.issue(s.line, "Python 2 long literal %s", text)
		}
	}
	s.add(tokNumber, text, s.line)
}

func (s *scanner) nameOrString() {
	start := s.pos
	for s.pos < len(s.src) && isIdentChar(s.src[s.pos]) {
		s.pos++
	}
	name := s.src[start:s.pos]
	if s.pos < len(s.src) && (s.src[s.pos] == '"' || s.src[s.pos] == '\'') && isStringPrefix(name) {
		s.pos = start
		s.str(strings.ToLower(name), s.line)
		return
	}
	s.add(tokName, name, s.line)
}

func isStringPrefix(p string) bool {
	switch strings.ToLower(p) {
	case "r", "u", "b", "br", "rb", "f", "fr", "rf", "t", "tr", "rt":
		return true
	}
	return false
}

// str scans a string literal with the given (lower-case) prefix starting at
// s.pos (which points at the prefix).
func (s *scanner) str(prefix string, line int) {
	start := s.pos
	s.pos += len(prefix)
	s.stringBody(prefix, line)
	if s.cur != nil {
		s.add(tokString, s.src[start:s.pos], line)
	}
}

// stringBody scans from the opening quote to just after the closing quote.
func (s *scanner) stringBody(prefix string, line int) {
	q := s.src[s.pos]
	triple := strings.HasPrefix(s.src[s.pos:], strings.Repeat(string(q), 3))
	closer := string(q)
	if triple {
		closer = strings.Repeat(string(q), 3)
	}
	s.pos += len(closer)
	fstr := strings.ContainsAny(prefix, "ft")
	for s.pos < len(s.src) {
		c := s.src[s.pos]
		switch {
		case c == '\\':
			s.pos++
			switch {
			case s.pos >= len(s.src):
			case fstr && (s.src[s.pos] == '{' || s.src[s.pos] == '}'):
				// A backslash does not escape braces in f-strings.
			case strings.HasPrefix(s.src[s.pos:], "\r\n"):
				s.line++
				s.pos += 2
			default:
				if s.src[s.pos] == '\n' {
					s.line++
				}
				s.pos++
			}
		case c == '\n':
			if !triple {
				s.issue(line, "unterminated string literal")
				s.broken = true
				return
			}
			s.line++
			s.pos++
		case strings.HasPrefix(s.src[s.pos:], closer):
			s.pos += len(closer)
			return
		case fstr && c == '{':
			if strings.HasPrefix(s.src[s.pos:], "{{") {
				s.pos += 2
				continue
			}
			s.pos++
			s.field()
		default:
			s.pos++
		}
	}
	if triple {
		if s.res.open == "" {
			s.res.open = "unterminated triple-quoted string"
		}
	} else {
		s.issue(line, "unterminated string literal")
	}
}

// field scans an f-string replacement field after its '{', through its '}'.
func (s *scanner) field() {
	depth := 0
	for s.pos < len(s.src) {
		c := s.src[s.pos]
		switch {
		case c == '"' || c == '\'':
			s.stringBody("", s.line)
		case isIdentStart(c):
			start := s.pos
			for s.pos < len(s.src) && isIdentChar(s.src[s.pos]) {
				s.pos++
			}
			if s.pos < len(s.src) && (s.src[s.pos] == '"' || s.src[s.pos] == '\'') && isStringPrefix(s.src[start:s.pos]) {
				s.stringBody(strings.ToLower(s.src[start:s.pos]), s.line)
			}
		case c == '(' || c == '[' || c == '{':
			depth++
			s.pos++
		case c == ')' || c == ']':
			depth--
			s.pos++
		case c == '}':
			s.pos++
			if depth == 0 {
				return
			}
			depth--
		case c == ':' && depth == 0:
			s.pos++
			s.formatSpec()
			return
		case c == '\n':
			s.line++
			s.pos++
		default:
			s.pos++
		}
	}
}

// formatSpec scans a format spec (literal text with nested fields) through the
// '}' that closes the replacement field.
func (s *scanner) formatSpec() {
	for s.pos < len(s.src) {
		c := s.src[s.pos]
		s.pos++
		switch c {
		case '{':
			s.field()
		case '}':
			return
		case '\n':
			s.line++
		}
	}
}

func isDigit(c byte) bool      { return c >= '0' && c <= '9' }
func isIdentStart(c byte) bool { return c == '_' || c >= 0x80 || (c|0x20 >= 'a' && c|0x20 <= 'z') }
func isIdentChar(c byte) bool  { return isIdentStart(c) || isDigit(c) }

// statementIssues adds the checks that need a whole logical line: Python 2
// print/exec statements and lines that cannot start a statement.
func statementIssues(lines []logicalLine) []syntaxIssue {
	var out []syntaxIssue
	for i := range lines {
		l := &lines[i]
		if l.kind != lineCode || len(l.toks) == 0 {
			continue
		}
		t0 := l.toks[0]
		if name := py2Statement(l.toks); name != "" {
			out = append(out, syntaxIssue{line: l.first, msg: fmt.Sprintf("Python 2 %s statement (Python 3 needs %s(...))", name, name), py2print: name == "print"})
			continue
		}
		if i := lambdaTupleParam(l.toks); i > 0 {
			out = append(out, syntaxIssue{line: l.toks[i].line, msg: "Lambda expression parameters cannot be parenthesized (Python 2 tuple parameters)"})
			continue
		}
		if i := adjacentNames(l.toks); i > 0 {
			out = append(out, syntaxIssue{line: l.toks[i].line, msg: fmt.Sprintf("%q cannot follow %q here (is this cell Scala, or Python 2?)", l.toks[i].text, l.toks[i-1].text)})
			continue
		}
		if t0.kind == tokOp {
			switch t0.text {
			case "(", "[", "{", "-", "+", "~", "*", "@", "...", ".":
			default:
				out = append(out, syntaxIssue{line: l.first, msg: fmt.Sprintf("a statement cannot start with %q", t0.text)})
				continue
			}
		}
		if t := l.lastTok(); t.kind == tokOp && danglingOps[t.text] && !(t.text == "*" && t0.text == "from") {
			out = append(out, syntaxIssue{line: l.last, msg: fmt.Sprintf("statement ends with %q", t.text)})
		}
	}
	return out
}

// py2Statement returns "print" or "exec" when the tokens are a Python 2
// print or exec statement (`print x`, `print >>f, x`, `exec code in ns`).
func py2Statement(toks []token) string {
	if len(toks) < 2 {
		return ""
	}
	t0, t1 := toks[0], toks[1]
	if t0.kind != tokName || (t0.text != "print" && t0.text != "exec") {
		return ""
	}
	if t1.kind == tokString || t1.kind == tokNumber || (t1.kind == tokName && !isKeywordOperator(t1.text)) || t1.text == ">>" {
		return t0.text
	}
	return ""
}

// automagicCommands are the magics IPython's automagic runs without a %
// that nbpipe treats as line magics: package installs.
var automagicCommands = []string{"pip", "pip3", "conda", "mamba", "micromamba"}

// automagicInstall reports whether a line is a bare `pip install x` (or
// conda/mamba), which IPython runs as the %pip/%conda magic.
func automagicInstall(rest string) bool {
	for _, cmd := range automagicCommands {
		if !strings.HasPrefix(rest, cmd) || len(rest) == len(cmd) || (rest[len(cmd)] != ' ' && rest[len(cmd)] != '\t') {
			continue
		}
		after := strings.TrimLeft(rest[len(cmd):], " \t")
		word := after
		if i := strings.IndexAny(after, " \t\r\n"); i >= 0 {
			word = after[:i]
		}
		switch word {
		case "install", "uninstall", "list", "show", "freeze", "download", "remove", "update", "create", "env", "config":
			return true
		}
	}
	return false
}

// lambdaTupleParam returns the index of a Python 2 `lambda (a, b):`, or 0.
func lambdaTupleParam(toks []token) int {
	for i := 0; i+1 < len(toks); i++ {
		if toks[i].kind == tokName && toks[i].text == "lambda" && toks[i+1].text == "(" {
			return i
		}
	}
	return 0
}

func isKeywordOperator(s string) bool {
	switch s {
	case "if", "else", "for", "in", "is", "not", "and", "or":
		return true
	}
	return false
}

// danglingOps cannot end a statement (`x = 1 +`); `*` can only in
// `from m import *`.
var danglingOps = func() map[string]bool {
	m := map[string]bool{}
	for _, op := range strings.Fields("= += -= *= /= //= %= **= >>= <<= &= |= ^= @= := + - * / // % ** << >> & | ^ ~ < > <= >= == != . @ ->") {
		m[op] = true
	}
	return m
}()

// softKeywords may stand next to another name (match x:, case y:, type X = ...).
var softKeywords = map[string]bool{"match": true, "case": true, "type": true, "_": true}

// adjacentNames returns the index of the second of two names in a row that no
// Python grammar rule allows (neither is a keyword), or 0.
func adjacentNames(toks []token) int {
	for i := 1; i < len(toks); i++ {
		a, b := toks[i-1], toks[i]
		if a.kind != tokName || b.kind != tokName {
			continue
		}
		if pyKeywords[a.text] || pyKeywords[b.text] || softKeywords[a.text] || softKeywords[b.text] {
			continue
		}
		return i
	}
	return 0
}
