package convert

import (
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"
)

// param is one papermill-style parameter: an assignment of a literal in the
// cell tagged `parameters`.
type param struct {
	name  string
	value any
}

// readParameters extracts `name = literal` (and `name: type = literal`)
// assignments. Assignments of anything but a literal stay in the code and are
// reported, since they cannot become DAG params.
func readParameters(sr scanResult, src string, cell int, lineOf func(int) (int, int), r *reporter) []param {
	var out []param
	for i := range sr.lines {
		l := &sr.lines[i]
		if l.kind != lineCode || l.indent != 0 {
			continue
		}
		for _, t := range splitStatements(l.toks) {
			out = readAssignment(out, t, l.first, cell, lineOf, r)
		}
	}
	return out
}

// splitStatements splits a logical line's tokens at top-level semicolons.
func splitStatements(toks []token) [][]token {
	var out [][]token
	depth, start := 0, 0
	for i, t := range toks {
		switch t.text {
		case "(", "[", "{":
			depth++
		case ")", "]", "}":
			depth--
		case ";":
			if depth == 0 {
				out = append(out, toks[start:i])
				start = i + 1
			}
		}
	}
	return append(out, toks[start:])
}

// readAssignment adds the parameter assigned by one simple statement.
func readAssignment(out []param, t []token, line, cell int, lineOf func(int) (int, int), r *reporter) []param {
	if len(t) < 3 || t[0].kind != tokName || pyKeywords[t[0].text] {
		return out
	}
	rhs := -1
	switch {
	case t[1].text == "=":
		rhs = 2
	case t[1].text == ":":
		for j := 2; j < len(t); j++ {
			if t[j].text == "=" {
				rhs = j + 1
				break
			}
		}
	}
	if rhs < 0 || rhs >= len(t) {
		return out
	}
	c, ln := lineOf(line)
	if c == 0 {
		c = cell
	}
	p := &litParser{toks: t[rhs:]}
	v, err := p.value()
	if err == nil && p.pos != len(p.toks) {
		err = errors.New("more than one value")
	}
	if err != nil {
		r.add(SevNotice, CodeParameters, c, ln, "%s is not a literal (%v): it stays in the code but is not a parameter", t[0].text, err)
		return out
	}
	replaced := false
	for k := range out {
		if out[k].name == t[0].text {
			out[k].value, replaced = v, true
		}
	}
	if !replaced {
		out = append(out, param{name: t[0].text, value: v})
	}
	return out
}

type litParser struct {
	toks []token
	pos  int
}

var errNotLiteral = errors.New("not a literal")

func (p *litParser) peek() token {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return token{kind: tokOp, text: ""}
}

func (p *litParser) value() (any, error) {
	t := p.peek()
	switch {
	case t.kind == tokString:
		var b strings.Builder
		for p.peek().kind == tokString {
			s, err := decodePyString(p.peek().text)
			if err != nil {
				return nil, err
			}
			b.WriteString(s)
			p.pos++
		}
		return b.String(), nil
	case t.kind == tokNumber:
		p.pos++
		return parseNumber(t.text, false)
	case t.text == "-" || t.text == "+":
		p.pos++
		n := p.peek()
		if n.kind != tokNumber {
			return nil, errNotLiteral
		}
		p.pos++
		return parseNumber(n.text, t.text == "-")
	case t.kind == tokName:
		p.pos++
		switch t.text {
		case "True":
			return true, nil
		case "False":
			return false, nil
		case "None":
			return nil, nil
		}
		return nil, errNotLiteral
	case t.text == "[" || t.text == "(":
		close := map[string]string{"[": "]", "(": ")"}[t.text]
		p.pos++
		list := []any{}
		commas := 0
		for p.peek().text != close {
			v, err := p.value()
			if err != nil {
				return nil, err
			}
			list = append(list, v)
			if p.peek().text == "," {
				p.pos++
				commas++
			} else if p.peek().text != close {
				return nil, errNotLiteral
			}
		}
		p.pos++
		if t.text == "(" && len(list) == 1 && commas == 0 {
			return list[0], nil // (x) is x; only a comma makes a tuple
		}
		return list, nil
	case t.text == "{":
		p.pos++
		m := map[string]any{}
		for p.peek().text != "}" {
			k, err := p.value()
			if err != nil {
				return nil, err
			}
			ks, ok := k.(string)
			if !ok || p.peek().text != ":" {
				return nil, errors.New("dict keys must be strings")
			}
			p.pos++
			v, err := p.value()
			if err != nil {
				return nil, err
			}
			m[ks] = v
			if p.peek().text == "," {
				p.pos++
			} else if p.peek().text != "}" {
				return nil, errNotLiteral
			}
		}
		p.pos++
		return m, nil
	}
	return nil, errNotLiteral
}

func parseNumber(s string, neg bool) (any, error) {
	clean := strings.ReplaceAll(s, "_", "")
	if strings.HasSuffix(clean, "j") || strings.HasSuffix(clean, "J") {
		return nil, errors.New("complex numbers are not parameters")
	}
	i, err := strconv.ParseInt(clean, 0, 64)
	if err == nil {
		if neg {
			i = -i
		}
		return int(i), nil
	}
	if errors.Is(err, strconv.ErrRange) {
		return nil, errors.New("integer too large for a parameter")
	}
	f, err := strconv.ParseFloat(clean, 64)
	if err != nil {
		return nil, errNotLiteral
	}
	if neg {
		f = -f
	}
	return f, nil
}

// decodePyString decodes a Python str literal (prefixes r and u; not b or f).
func decodePyString(lit string) (string, error) {
	i := strings.IndexAny(lit, `"'`)
	prefix := strings.ToLower(lit[:i])
	body := lit[i:]
	if strings.ContainsAny(prefix, "bft") {
		return "", errors.New("bytes and f-strings are not parameters")
	}
	q := body[:1]
	if strings.HasPrefix(body, strings.Repeat(q, 3)) && len(body) >= 6 {
		body = body[3 : len(body)-3]
	} else {
		body = body[1 : len(body)-1]
	}
	if strings.Contains(prefix, "r") {
		return body, nil
	}
	var b strings.Builder
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c != '\\' || i+1 >= len(body) {
			b.WriteByte(c)
			continue
		}
		i++
		switch e := body[i]; e {
		case '\n':
		case '\\', '\'', '"':
			b.WriteByte(e)
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case 'a':
			b.WriteByte('\a')
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'v':
			b.WriteByte('\v')
		case 'x', 'u', 'U':
			n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[e]
			if i+1+n > len(body) {
				return "", errNotLiteral
			}
			v, err := strconv.ParseUint(body[i+1:i+1+n], 16, 32)
			if err != nil || !utf8.ValidRune(rune(v)) {
				return "", errNotLiteral
			}
			b.WriteRune(rune(v))
			i += n
		case '0', '1', '2', '3', '4', '5', '6', '7':
			j := i
			for j < len(body) && j < i+3 && body[j] >= '0' && body[j] <= '7' {
				j++
			}
			v, _ := strconv.ParseUint(body[i:j], 8, 32)
			b.WriteRune(rune(v))
			i = j - 1
		case 'N':
			return "", errors.New(`\N{...} escapes are not supported in parameters`)
		default:
			b.WriteByte('\\')
			b.WriteByte(e)
		}
	}
	return b.String(), nil
}
