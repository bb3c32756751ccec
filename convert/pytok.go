package convert

import (
	_ "embed"
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// This file and pyparse.go are an exact syntax check for Python 3.12: the
// tokenizer, the grammar (python.gram) and the checks CPython's compiler makes
// before it emits code (symtable.c, compile.c), so that a cell nbpipe accepts
// is one compile() accepts. They build no syntax tree: only what the checks
// need.

// tokPool recycles token buffers between checks (the check is on the hot
// path of conversion).
var tokPool sync.Pool

type ptKind uint8

const (
	ptEnd ptKind = iota
	ptName
	ptNumber
	ptString
	ptFStart
	ptFMiddle
	ptFEnd
	ptOp
	ptNewline
	ptIndent
	ptDedent
)

type ptok struct {
	kind  ptKind
	text  string // names, operators; the prefix for strings
	line  int
	col   int  // byte offset in the line, for adjacency checks
	bytes bool // a bytes literal
	end   int  // byte offset after the token in the source
	start int  // byte offset of the token in the source
}

// SyntaxError is the first error CPython would report for a piece of code.
type pySyntaxError struct {
	line int
	msg  string
}

func (e *pySyntaxError) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.msg) }

type fmode struct {
	quote     string // closing quote: ' " ''' """
	raw       bool
	inExpr    bool // scanning a replacement field's expression
	spec      bool // scanning a format spec
	depth     int  // bracket depth when the field started
	nest      int  // format spec nesting (CPython allows 2)
	specStart int  // where the current format spec starts
	line      int  // line of the f-string's start
}

type tokenizer struct {
	src      string
	pos      int
	line     int
	lineBeg  int
	toks     []ptok
	indents  []int
	alt      []int
	brackets []byte
	bline    []int // line of each open bracket
	atBOL    bool
	fs       []fmode
	err      *pySyntaxError
}

func (t *tokenizer) fail(line int, format string, args ...any) {
	if t.err == nil {
		t.err = &pySyntaxError{line: line, msg: fmt.Sprintf(format, args...)}
	}
}

func (t *tokenizer) emit(k ptKind, text string, start int) {
	t.toks = append(t.toks, ptok{kind: k, text: text, line: t.line, col: start - t.lineBeg, start: start, end: t.pos})
}

// pyTokenize tokenizes Python source the way CPython 3.12's tokenizer does.
func pyTokenize(src string) ([]ptok, *pySyntaxError) {
	if strings.IndexByte(src, '\r') >= 0 {
		src = strings.ReplaceAll(strings.ReplaceAll(src, "\r\n", "\n"), "\r", "\n")
	}
	t := &tokenizer{src: src, line: 1, atBOL: true, indents: []int{0}, alt: []int{0}}
	if b, ok := tokPool.Get().(*[]ptok); ok {
		t.toks = (*b)[:0]
	} else {
		t.toks = make([]ptok, 0, len(src)/4+8)
	}
	for t.err == nil && t.pos < len(t.src) {
		if len(t.fs) > 0 && !t.fs[len(t.fs)-1].inExpr {
			t.fstringText()
			continue
		}
		if t.atBOL && len(t.brackets) == 0 && len(t.fs) == 0 {
			t.indentation()
			continue
		}
		t.next()
	}
	if t.err != nil {
		return nil, t.err
	}
	if len(t.fs) > 0 {
		f := t.fs[0]
		if len(f.quote) == 3 {
			t.fail(f.line, "unterminated triple-quoted f-string literal (detected at line %d)", t.line)
		} else {
			t.fail(f.line, "unterminated f-string literal (detected at line %d)", t.line)
		}
		return nil, t.err
	}
	if len(t.brackets) > 0 {
		t.fail(t.bline[len(t.bline)-1], "'%c' was never closed", t.brackets[len(t.brackets)-1])
		return nil, t.err
	}
	if n := len(t.toks); n > 0 && t.toks[n-1].kind != ptNewline && t.toks[n-1].kind != ptDedent && t.toks[n-1].kind != ptIndent {
		t.emit(ptNewline, "", t.pos)
	}
	for len(t.indents) > 1 {
		t.indents, t.alt = t.indents[:len(t.indents)-1], t.alt[:len(t.alt)-1]
		t.emit(ptDedent, "", t.pos)
	}
	t.emit(ptEnd, "", t.pos)
	return t.toks, nil
}

// indentation reads the white space at the start of a line; blank and
// comment-only lines produce no tokens.
func (t *tokenizer) indentation() {
	col, alt := 0, 0
	contCol, contAlt := -1, -1
	p := t.pos
	for p < len(t.src) {
		switch t.src[p] {
		case ' ':
			col++
			alt++
		case '\t':
			col = (col/8 + 1) * 8
			alt++
		case '\f':
			col, alt = 0, 0
		case '\\':
			// A backslash continuation in the indentation: the first one
			// found sets the indentation of what follows.
			if p+1 < len(t.src) && t.src[p+1] == '\n' {
				if contCol <= 0 { // CPython: 0 counts as not set
					contCol, contAlt = col, alt
				}
				p++
				t.line++
				t.lineBeg = p + 1
				if p+1 >= len(t.src) {
					t.fail(t.line-1, "unexpected EOF while parsing")
					return
				}
				break
			}
			goto done
		default:
			goto done
		}
		p++
	}
done:
	if contCol > 0 {
		col, alt = contCol, contAlt
	}
	if p >= len(t.src) || t.src[p] == '\n' || t.src[p] == '#' || (t.src[p] == '\\' && p+1 < len(t.src) && t.src[p+1] == '\n' && false) {
		// blank or comment line
		for p < len(t.src) && t.src[p] != '\n' {
			p++
		}
		t.pos = p
		if p < len(t.src) {
			t.pos++
			t.line++
			t.lineBeg = t.pos
		}
		return
	}
	t.pos = p
	t.atBOL = false
	top := t.indents[len(t.indents)-1]
	atop := t.alt[len(t.alt)-1]
	switch {
	case col == top:
		if alt != atop {
			t.fail(t.line, "inconsistent use of tabs and spaces in indentation")
		}
	case col > top:
		if alt <= atop {
			t.fail(t.line, "inconsistent use of tabs and spaces in indentation")
			return
		}
		if len(t.indents) >= 100 {
			t.fail(t.line, "too many levels of indentation")
			return
		}
		t.indents, t.alt = append(t.indents, col), append(t.alt, alt)
		t.emit(ptIndent, "", p)
	default:
		for len(t.indents) > 1 && col < t.indents[len(t.indents)-1] {
			t.indents, t.alt = t.indents[:len(t.indents)-1], t.alt[:len(t.alt)-1]
			t.emit(ptDedent, "", p)
		}
		if col != t.indents[len(t.indents)-1] {
			t.fail(t.line, "unindent does not match any outer indentation level")
			return
		}
		if alt != t.alt[len(t.alt)-1] {
			t.fail(t.line, "inconsistent use of tabs and spaces in indentation")
		}
	}
}

var pyOperators = []string{
	"**=", "//=", ">>=", "<<=", "...", "!=", "%=", "&=", "**", "*=", "+=", "-=", "->", "//", "/=", ":=",
	"<<", "<=", "==", ">=", ">>", "@=", "^=", "|=",
}

// next reads one token in normal or replacement-field mode.
func (t *tokenizer) next() {
	c := t.src[t.pos]
	start := t.pos
	inField := len(t.fs) > 0 && t.fs[len(t.fs)-1].inExpr
	switch {
	case c == ' ' || c == '\t' || c == '\f':
		t.pos++
	case c == '\n':
		t.pos++
		if len(t.brackets) == 0 && !inField {
			t.emit(ptNewline, "", start)
			t.atBOL = true
		} else if inField {
			// a newline inside a replacement field is allowed in 3.12
		}
		t.line++
		t.lineBeg = t.pos
	case c == '#':
		for t.pos < len(t.src) && t.src[t.pos] != '\n' {
			t.pos++
		}
	case c == '\\':
		if t.pos+1 < len(t.src) && t.src[t.pos+1] == '\n' {
			t.pos += 2
			t.line++
			t.lineBeg = t.pos
			if t.pos >= len(t.src) {
				t.fail(t.line-1, "unexpected EOF while parsing")
			}
			return
		}
		if t.pos+1 >= len(t.src) {
			t.fail(t.line, "unexpected EOF while parsing")
			return
		}
		t.fail(t.line, "unexpected character after line continuation character")
	case c == '"' || c == '\'':
		t.str("", start)
	case isDigit(c) || (c == '.' && t.pos+1 < len(t.src) && isDigit(t.src[t.pos+1])):
		t.number()
	case c < 0x80 && (c == '_' || (c|0x20 >= 'a' && c|0x20 <= 'z')) || c >= 0x80:
		t.nameOrString()
	default:
		t.op(inField)
	}
}

func (t *tokenizer) op(inField bool) {
	start := t.pos
	c := t.src[t.pos]
	f := (*fmode)(nil)
	if inField {
		f = &t.fs[len(t.fs)-1]
	}
	// Field ends at bracket depth of the field's start.
	if f != nil && len(t.brackets) == f.depth {
		switch {
		case c == '}':
			t.pos++
			t.emit(ptOp, "}", start)
			t.fs[len(t.fs)-1].inExpr = false
			t.fs[len(t.fs)-1].spec = false
			t.popSpec()
			return
		case c == ':' && !strings.HasPrefix(t.src[t.pos:], ":="):
			t.pos++
			t.emit(ptOp, ":", start)
			t.fs[len(t.fs)-1].inExpr = false
			t.fs[len(t.fs)-1].spec = true
			t.fs[len(t.fs)-1].specStart = t.pos
			return
		case c == ':' && strings.HasPrefix(t.src[t.pos:], ":="):
			// f"{x:=1}" is x with the format spec "=1"
			t.pos++
			t.emit(ptOp, ":", start)
			t.fs[len(t.fs)-1].inExpr = false
			t.fs[len(t.fs)-1].spec = true
			t.fs[len(t.fs)-1].specStart = t.pos
			return
		case c == '!' && !strings.HasPrefix(t.src[t.pos:], "!="):
			t.pos++
			t.emit(ptOp, "!", start)
			return
		}
	}
	if t.pos+1 < len(t.src) && isOpStart2(c, t.src[t.pos+1]) {
		for _, o := range pyOperators {
			if strings.HasPrefix(t.src[t.pos:], o) {
				t.pos += len(o)
				t.emit(ptOp, o, start)
				return
			}
		}
	}
	switch c {
	case '(', '[', '{':
		if len(t.brackets) >= 200 {
			t.fail(t.line, "too many nested parentheses")
			return
		}
		t.brackets = append(t.brackets, c)
		t.bline = append(t.bline, t.line)
	case ')', ']', '}':
		open := map[byte]byte{')': '(', ']': '[', '}': '{'}[c]
		if len(t.brackets) == 0 || (f != nil && len(t.brackets) <= f.depth) {
			t.fail(t.line, "unmatched '%c'", c)
			return
		}
		if top := t.brackets[len(t.brackets)-1]; top != open {
			bl := t.bline[len(t.bline)-1]
			if bl != t.line {
				t.fail(t.line, "closing parenthesis '%c' does not match opening parenthesis '%c' on line %d", c, top, bl)
			} else {
				t.fail(t.line, "closing parenthesis '%c' does not match opening parenthesis '%c'", c, top)
			}
			return
		}
		t.brackets, t.bline = t.brackets[:len(t.brackets)-1], t.bline[:len(t.bline)-1]
	case '+', '-', '*', '/', '%', '&', '|', '^', '~', '<', '>', '=', '.', ',', ':', ';', '@', '!':
	default:
		r, _ := utf8.DecodeRuneInString(t.src[t.pos:])
		t.badChar(r)
		return
	}
	t.pos++
	t.emit(ptOp, t.src[start:t.pos], start)
}

// isOpStart2 reports whether two characters can start a multi-character
// operator.
func isOpStart2(a, b byte) bool {
	switch b {
	case '=', '*', '/', '>', '<', '.':
		return true
	}
	return a == '-' && b == '>' || a == ':' && b == '='
}

func (t *tokenizer) badChar(r rune) {
	if !unicode.IsPrint(r) || r == 0xa0 {
		t.fail(t.line, "invalid non-printable character U+%04X", r)
		return
	}
	switch r {
	case '$', '?', '`':
		t.fail(t.line, "invalid syntax")
		return
	}
	t.fail(t.line, "invalid character '%c' (U+%04X)", r, r)
}

func isXIDStart(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.Is(unicode.Nl, r) || unicode.Is(unicode.Other_ID_Start, r)
}

func isXIDContinue(r rune) bool {
	return isXIDStart(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Mc, r) ||
		unicode.Is(unicode.Nd, r) || unicode.Is(unicode.Pc, r) || unicode.Is(unicode.Other_ID_Continue, r)
}

func (t *tokenizer) nameOrString() {
	start := t.pos
	for t.pos < len(t.src) {
		c := t.src[t.pos]
		if c < 0x80 {
			if isIdentChar(c) {
				t.pos++
				continue
			}
			break
		}
		r, n := utf8.DecodeRuneInString(t.src[t.pos:])
		ok := isXIDContinue(r)
		if t.pos == start {
			ok = isXIDStart(r)
		}
		if !ok {
			if t.pos == start {
				t.badChar(r)
				return
			}
			break
		}
		t.pos += n
	}
	name := t.src[start:t.pos]
	if t.pos < len(t.src) && (t.src[t.pos] == '"' || t.src[t.pos] == '\'') {
		switch strings.ToLower(name) {
		case "r", "u", "b", "br", "rb", "f", "fr", "rf":
			t.pos = start
			t.str(strings.ToLower(name), start)
			return
		}
	}
	t.emit(ptName, name, start)
}

func (t *tokenizer) number() {
	start := t.pos
	s := t.src
	digits := func(ok func(byte) bool) bool { // digits with single underscores between
		if t.pos >= len(s) || !ok(s[t.pos]) {
			return false
		}
		for t.pos < len(s) {
			if ok(s[t.pos]) {
				t.pos++
				continue
			}
			if s[t.pos] == '_' && t.pos+1 < len(s) && ok(s[t.pos+1]) {
				t.pos += 2
				continue
			}
			break
		}
		return true
	}
	dec := func(c byte) bool { return c >= '0' && c <= '9' }
	kind := "decimal"
	if s[t.pos] == '0' && t.pos+1 < len(s) && strings.ContainsRune("xXoObB", rune(s[t.pos+1])) {
		t.pos += 2
		var ok func(byte) bool
		switch s[t.pos-1] | 0x20 {
		case 'x':
			kind, ok = "hexadecimal", func(c byte) bool { return dec(c) || (c|0x20 >= 'a' && c|0x20 <= 'f') }
		case 'o':
			kind, ok = "octal", func(c byte) bool { return c >= '0' && c <= '7' }
		default:
			kind, ok = "binary", func(c byte) bool { return c == '0' || c == '1' }
		}
		if t.pos < len(s) && s[t.pos] == '_' {
			t.pos++
		}
		if !digits(ok) {
			if t.pos < len(s) && dec(s[t.pos]) {
				t.fail(t.line, "invalid digit '%c' in %s literal", s[t.pos], kind)
			} else {
				t.fail(t.line, "invalid %s literal", kind)
			}
			return
		}
		if t.pos < len(s) && dec(s[t.pos]) {
			t.fail(t.line, "invalid digit '%c' in %s literal", s[t.pos], kind)
			return
		}
		if t.pos < len(s) && s[t.pos] == '_' {
			t.fail(t.line, "invalid %s literal", kind)
			return
		}
	} else {
		intPart := t.pos < len(s) && dec(s[t.pos])
		if intPart {
			digits(dec)
			if t.pos < len(s) && s[t.pos] == '_' {
				t.fail(t.line, "invalid decimal literal")
				return
			}
		}
		isFloat := false
		if t.pos < len(s) && s[t.pos] == '.' {
			isFloat = true
			t.pos++
			if t.pos < len(s) && s[t.pos] == '_' {
				t.fail(t.line, "invalid decimal literal")
				return
			}
			digits(dec)
			if t.pos < len(s) && s[t.pos] == '_' {
				t.fail(t.line, "invalid decimal literal")
				return
			}
		}
		if t.pos < len(s) && (s[t.pos] == 'e' || s[t.pos] == 'E') {
			save := t.pos
			t.pos++
			if t.pos < len(s) && (s[t.pos] == '+' || s[t.pos] == '-') {
				t.pos++
			}
			if !digits(dec) {
				// 1else is 1 then else; 1e alone is an invalid literal.
				if strings.HasPrefix(s[save:], "else") {
					t.pos = save
					goto end
				}
				t.fail(t.line, "invalid decimal literal")
				return
			}
			if t.pos < len(s) && s[t.pos] == '_' {
				t.fail(t.line, "invalid decimal literal")
				return
			}
			isFloat = true
		}
		if t.pos < len(s) && (s[t.pos] == 'j' || s[t.pos] == 'J') {
			t.pos++
			isFloat = true
		}
	end:
		text := s[start:t.pos]
		if !isFloat && len(text) > 1 && text[0] == '0' && strings.Trim(text, "0_") != "" {
			t.fail(t.line, "leading zeros in decimal integer literals are not permitted; use an 0o prefix for octal integers")
			return
		}
	}
	// verify_end_of_number: a name right after a number.
	if t.pos < len(s) {
		c := s[t.pos]
		r, _ := utf8.DecodeRuneInString(s[t.pos:])
		if (c < 0x80 && (isIdentStart(c))) || (c >= 0x80 && isXIDStart(r)) {
			rest := s[t.pos:]
			allowed := false
			for _, kw := range []string{"and", "else", "for", "if", "in", "is", "not", "or"} {
				if strings.HasPrefix(rest, kw) {
					allowed = true
				}
			}
			if !allowed || kind != "decimal" && strings.HasPrefix(rest, "e") {
				t.fail(t.line, "invalid %s literal", kind)
				return
			}
		}
	}
	t.emit(ptNumber, s[start:t.pos], start)
}

// str scans a string literal starting at its prefix.
func (t *tokenizer) str(prefix string, start int) {
	t.pos += len(prefix)
	q := t.src[t.pos : t.pos+1]
	if strings.HasPrefix(t.src[t.pos:], q+q+q) {
		q = q + q + q
	}
	raw := strings.Contains(prefix, "r")
	if strings.Contains(prefix, "f") {
		t.pos += len(q)
		t.emit(ptFStart, prefix, start)
		t.fs = append(t.fs, fmode{quote: q, raw: raw, line: t.line})
		return
	}
	startLine := t.line
	t.pos += len(q)
	bodyStart := t.pos
	for {
		if t.pos >= len(t.src) {
			if len(q) == 3 {
				t.fail(startLine, "unterminated triple-quoted string literal (detected at line %d)", t.line)
			} else {
				t.fail(startLine, "unterminated string literal (detected at line %d)", t.line)
			}
			return
		}
		c := t.src[t.pos]
		switch {
		case c == '\\':
			t.pos++
			if t.pos < len(t.src) {
				if t.src[t.pos] == '\n' {
					t.line++
					t.lineBeg = t.pos + 1
				}
				t.pos++
			}
			continue
		case c == '\n':
			if len(q) == 1 {
				t.fail(startLine, "unterminated string literal (detected at line %d)", t.line)
				return
			}
			t.line++
			t.lineBeg = t.pos + 1
		case strings.HasPrefix(t.src[t.pos:], q):
			body := t.src[bodyStart:t.pos]
			t.pos += len(q)
			isBytes := strings.Contains(prefix, "b")
			if msg := checkStringBody(body, raw, isBytes); msg != "" {
				t.fail(startLine, "%s", msg)
				return
			}
			t.toks = append(t.toks, ptok{kind: ptString, text: prefix, line: startLine, col: start - t.lineBeg, bytes: isBytes, start: start, end: t.pos})
			return
		}
		t.pos++
	}
}

// checkStringBody finds the errors CPython's string decoding reports.
func checkStringBody(body string, raw, isBytes bool) string {
	if isBytes {
		for i := 0; i < len(body); i++ {
			if body[i] >= 0x80 {
				return "bytes can only contain ASCII literal characters"
			}
		}
	}
	if raw || strings.IndexByte(body, '\\') < 0 {
		return ""
	}
	codec := "unicodeescape"
	for i := 0; i < len(body); i++ {
		if body[i] != '\\' || i+1 >= len(body) {
			continue
		}
		i++
		need := 0
		switch body[i] {
		case 'x':
			need = 2
		case 'u':
			if !isBytes {
				need = 4
			}
		case 'U':
			if !isBytes {
				need = 8
			}
		case 'N':
			if !isBytes {
				if i+1 >= len(body) || body[i+1] != '{' {
					return "(" + codec + " error) 'unicodeescape' codec can't decode bytes: malformed \\N character escape"
				}
				end := strings.IndexByte(body[i:], '}')
				if end < 0 {
					return "(unicode error) 'unicodeescape' codec can't decode bytes: malformed \\N character escape"
				}
				name := body[i+2 : i+end]
				if !unicodeNameShape(name) {
					return "(unicode error) 'unicodeescape' codec can't decode bytes: unknown Unicode character name"
				}
				i += end
			}
			continue
		}
		if need == 0 {
			continue
		}
		hex := body[i+1:]
		n := 0
		for n < need && n < len(hex) && isHexDigit(hex[n]) {
			n++
		}
		if n < need {
			if isBytes {
				return fmt.Sprintf("(value error) invalid \\x escape at position %d", i-1)
			}
			return fmt.Sprintf("(unicode error) 'unicodeescape' codec can't decode bytes: truncated \\%c%s escape", body[i], strings.Repeat("X", need))
		}
		if need == 8 && hex[:8] > "0010ffff" && strings.ToLower(hex[:8]) > "0010ffff" {
			return "(unicode error) 'unicodeescape' codec can't decode bytes: illegal Unicode character"
		}
		i += need
	}
	return ""
}

func isHexDigit(c byte) bool { return isDigit(c) || (c|0x20 >= 'a' && c|0x20 <= 'f') }

// unicodeNames holds the FNV-1a hashes of the Unicode 15.0 character names
// (Python 3.12's unicodedata), sorted, for \N{...} escapes; Go has no name
// table. Algorithmic names (CJK ideographs, Hangul syllables, ...) and name
// aliases are not in it, so those escapes are refused: rare, and on the
// safe side.
//
//go:embed unicode_names.bin
var unicodeNames []byte

func unicodeNameShape(name string) bool {
	if name == "" || len(name) > 100 {
		return false
	}
	h := uint32(0x811c9dc5)
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		h ^= uint32(c)
		h *= 0x01000193
	}
	n := len(unicodeNames) / 4
	i := sort.Search(n, func(i int) bool { return binary.LittleEndian.Uint32(unicodeNames[4*i:]) >= h })
	return i < n && binary.LittleEndian.Uint32(unicodeNames[4*i:]) == h
}

func (t *tokenizer) popSpec() {
	// after a nested field in a format spec closes, the outer spec resumes
	f := &t.fs[len(t.fs)-1]
	if f.nest > 0 {
		f.nest--
		f.spec = true
	}
}

// fstringText scans the literal part of an f-string (or of a format spec)
// up to a replacement field or the closing quote.
func (t *tokenizer) fstringText() {
	f := &t.fs[len(t.fs)-1]
	start := t.pos
	startLine := t.line
	for t.pos < len(t.src) {
		c := t.src[t.pos]
		switch {
		case !f.spec && strings.HasPrefix(t.src[t.pos:], f.quote):
			if t.pos > start {
				t.emitMiddle(start, startLine)
			}
			s := t.pos
			t.pos += len(f.quote)
			t.emit(ptFEnd, "", s)
			t.fs = t.fs[:len(t.fs)-1]
			return
		case f.spec && strings.HasPrefix(t.src[t.pos:], f.quote):
			t.fail(t.line, "f-string: expecting '}'")
			return
		case c == '\\' && f.raw:
			// In a raw string a backslash still keeps the next quote (or
			// backslash, or newline) from ending the literal.
			t.pos++
			if t.pos < len(t.src) {
				switch t.src[t.pos] {
				case '\n':
					t.line++
					t.lineBeg = t.pos + 1
					t.pos++
				case '\\', f.quote[0]:
					t.pos++
				}
			}
		case c == '\\' && !f.raw:
			if strings.HasPrefix(t.src[t.pos+1:], "N") && !strings.HasPrefix(t.src[t.pos+1:], "N{") && !f.spec {
				t.fail(t.line, "(unicode error) 'unicodeescape' codec can't decode bytes: malformed \\N character escape")
				return
			}
			if strings.HasPrefix(t.src[t.pos+1:], "N{") && !f.spec {
				end := strings.IndexByte(t.src[t.pos:], '}')
				if end > 0 && !strings.Contains(t.src[t.pos:t.pos+end], f.quote) {
					if !unicodeNameShape(t.src[t.pos+3 : t.pos+end]) {
						t.fail(t.line, "(unicode error) 'unicodeescape' codec can't decode bytes: unknown Unicode character name")
						return
					}
					t.pos += end + 1
					continue
				}
			}
			t.pos++
			if t.pos < len(t.src) {
				if t.src[t.pos] == '\n' {
					t.line++
					t.lineBeg = t.pos + 1
				}
				if t.src[t.pos] == '{' || t.src[t.pos] == '}' {
					continue // \{ is a backslash then a field
				}
				t.pos++
			}
		case c == '\n':
			if len(f.quote) == 1 {
				if f.spec {
					// CPython 3.12 lets a format spec end with a newline
					// (right before its '}' or a nested field), nothing else.
					q := t.pos + 1
					for q < len(t.src) && (t.src[q] == ' ' || t.src[q] == '\t' || t.src[q] == '\f') {
						q++
					}
					if q < len(t.src) && (t.src[q] == '}' || t.src[q] == '{') {
						t.pos++
						t.line++
						t.lineBeg = t.pos
						t.pos = q
						continue
					}
					t.fail(t.line+1, "f-string: expecting '}', or format specs")
					return
				}
				t.fail(f.line, "unterminated f-string literal (detected at line %d)", t.line)
				return
			}
			t.pos++
			t.line++
			t.lineBeg = t.pos
		case c == '{':
			if !f.spec && strings.HasPrefix(t.src[t.pos:], "{{") {
				t.pos += 2
				continue
			}
			if t.pos > start {
				t.emitMiddle(start, startLine)
			}
			if f.spec {
				f.nest++
				if f.nest > 2 {
					t.fail(t.line, "f-string: expressions nested too deeply")
					return
				}
			}
			s := t.pos
			t.pos++
			t.emit(ptOp, "{", s)
			f.inExpr, f.spec = true, false
			f.depth = len(t.brackets)
			return
		case c == '}':
			if f.spec {
				if t.pos > start {
					t.emitMiddle(start, startLine)
				}
				s := t.pos
				t.pos++
				t.emit(ptOp, "}", s)
				f.spec = false
				t.popSpec()
				return
			}
			if strings.HasPrefix(t.src[t.pos:], "}}") {
				t.pos += 2
				continue
			}
			t.fail(t.line, "f-string: single '}' is not allowed")
			return
		default:
			t.pos++
		}
	}
	if len(f.quote) == 3 {
		t.fail(f.line, "unterminated triple-quoted f-string literal (detected at line %d)", t.line)
	} else {
		t.fail(f.line, "unterminated f-string literal (detected at line %d)", t.line)
	}
}

func (t *tokenizer) emitMiddle(start, line int) {
	f := &t.fs[len(t.fs)-1]
	body := t.src[start:t.pos]
	if !f.raw {
		if msg := checkStringBody(strings.ReplaceAll(body, "\\N{", "\\N\x00"), false, false); msg != "" && !strings.Contains(msg, "\\N") {
			t.fail(line, "%s", msg)
			return
		}
	}
	t.toks = append(t.toks, ptok{kind: ptFMiddle, line: line, col: start - t.lineBeg, start: start, end: t.pos})
}
