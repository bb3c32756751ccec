package convert

import (
	"fmt"
	"strings"
)

// ekind is what an expression is, as far as the checks need to know.
type ekind uint8

const (
	exOther ekind = iota
	exName
	exAttr
	exSubscript
	exStarred
	exTuple
	exList
	exCall
	exLiteral
	exConst // True, False, None
	exEllipsis
	exCompare
	exNamed
	exYield
	exAwait
	exLambda
	exIfExp
	exDict
	exSet
	exGenExp
	exListComp
	exSetComp
	exDictComp
	exFString
	exBoolOp
	exUnary
	exBinOp
)

var exWhat = map[ekind]string{
	exCall: "function call", exLiteral: "literal", exEllipsis: "ellipsis", exCompare: "comparison",
	exNamed: "named expression", exYield: "yield expression", exAwait: "await expression", exLambda: "lambda",
	exIfExp: "conditional expression", exDict: "dict literal", exSet: "set display", exGenExp: "generator expression",
	exListComp: "list comprehension", exSetComp: "set comprehension", exDictComp: "dict comprehension",
	exFString: "f-string expression", exBoolOp: "expression", exUnary: "expression", exBinOp: "expression", exOther: "expression",
}

type pexpr struct {
	kind   ekind
	line   int
	name   string // exName: the name; exAttr: the attribute; exConst: the keyword
	elts   []pexpr
	parens bool // written in parentheses
}

type scopeKind uint8

const (
	scModule scopeKind = iota
	scClass
	scFunc
	scLambda
	scComp
)

type pscope struct {
	kind           scopeKind
	async          bool
	generator      bool
	returnsVal     int // line of the first `return value`, 0 if none
	params         map[string]bool
	bound          map[string]bool
	used           map[string]bool
	declared       map[string]string // name -> "global" / "nonlocal"
	nonlocals      []ptok            // nonlocal names to resolve when an enclosing scope closes
	parent         *pscope
	childNonlocals []ptok // nonlocal names of inner scopes, not yet resolved
	loops          int
	exceptStar     int
	compVars       map[string]bool
	compIter       bool // parsing a comprehension's first iterable
}

type pyparser struct {
	src   string
	toks  []ptok
	p     int
	err   *pySyntaxError
	sc    *pscope
	first bool // still in the __future__ zone of the module
	// late holds the first error of each later stage of compile(): the
	// parser's errors come first, then __future__ (1), the symbol table (2)
	// and code generation (3).
	late      [4]*pySyntaxError
	typeCtx   string // "a TypeVar bound", "a type alias", "the definition of a generic"
	docSeen   bool
	walrusLog []ptok
}

func (p *pyparser) lateFail(stage, line int, format string, args ...any) {
	if p.late[stage] == nil {
		p.late[stage] = &pySyntaxError{line: line, msg: fmt.Sprintf(format, args...)}
	}
}

// checkPython reports the first syntax error CPython 3.12's compile() would
// report for src, or nil.
func checkPython(src string) *pySyntaxError {
	if strings.IndexByte(src, '\r') >= 0 {
		src = strings.ReplaceAll(strings.ReplaceAll(src, "\r\n", "\n"), "\r", "\n")
	}
	toks, err := pyTokenize(src)
	if err != nil {
		return err
	}
	p := &pyparser{src: src, toks: toks, sc: &pscope{kind: scModule}, first: true}
	defer func() { tokPool.Put(&toks) }()
	p.file()
	if p.err != nil {
		return p.err
	}
	for _, e := range p.late {
		if e != nil {
			return e
		}
	}
	return nil
}

func (p *pyparser) fail(line int, format string, args ...any) {
	if p.err == nil {
		p.err = &pySyntaxError{line: line, msg: fmt.Sprintf(format, args...)}
	}
}

func (p *pyparser) tok() ptok { return p.toks[p.p] }
func (p *pyparser) peek(n int) ptok {
	if p.p+n < len(p.toks) {
		return p.toks[p.p+n]
	}
	return p.toks[len(p.toks)-1]
}
func (p *pyparser) isOp(s string) bool { t := p.toks[p.p]; return t.kind == ptOp && t.text == s }
func (p *pyparser) isKw(s string) bool { t := p.toks[p.p]; return t.kind == ptName && t.text == s }
func (p *pyparser) adv() ptok          { t := p.toks[p.p]; p.p++; return t }

// syntaxErr reports "invalid syntax" at the current token (or what it is).
func (p *pyparser) syntaxErr() {
	t := p.tok()
	switch t.kind {
	case ptIndent:
		p.fail(t.line, "unexpected indent")
	case ptDedent:
		p.fail(t.line, "unindent does not match any outer indentation level")
	default:
		p.fail(t.line, "invalid syntax")
	}
}

func (p *pyparser) expectOp(s string) bool {
	if p.err != nil {
		return false
	}
	if p.isOp(s) {
		p.p++
		return true
	}
	if s == ":" {
		p.fail(p.tok().line, "expected ':'")
	} else {
		p.syntaxErr()
	}
	return false
}

func (p *pyparser) expectKw(s string) bool {
	if p.err != nil {
		return false
	}
	if p.isKw(s) {
		p.p++
		return true
	}
	p.fail(p.tok().line, "invalid syntax")
	return false
}

var pyHardKeywords = func() map[string]bool {
	m := map[string]bool{}
	for k := range pyKeywords {
		m[k] = true
	}
	return m
}()

func (p *pyparser) isName() bool {
	t := p.tok()
	return t.kind == ptName && !pyHardKeywords[t.text]
}

func (p *pyparser) file() {
	for p.err == nil && p.tok().kind != ptEnd {
		if p.tok().kind == ptNewline {
			p.p++
			continue
		}
		p.statement()
	}
	p.closeScope(p.sc)
}

// block: NEWLINE INDENT statements DEDENT | simple_stmts
func (p *pyparser) block(what string, line int) {
	if p.err != nil {
		return
	}
	if p.tok().kind == ptNewline {
		p.p++
		if p.tok().kind != ptIndent {
			p.fail(p.tok().line, "expected an indented block after %s on line %d", what, line)
			return
		}
		p.p++
		for p.err == nil && p.tok().kind != ptDedent && p.tok().kind != ptEnd {
			p.statement()
		}
		if p.tok().kind == ptDedent {
			p.p++
		}
		return
	}
	p.simpleStmts()
}

func (p *pyparser) statement() {
	t := p.tok()
	if t.kind == ptIndent {
		p.fail(t.line, "unexpected indent")
		return
	}
	if t.kind == ptName {
		switch t.text {
		case "def", "if", "class", "with", "for", "try", "while", "async":
			p.notFirst()
			p.compound()
			return
		case "match":
			// Either a match statement or an expression statement: neither
			// may be followed by a __future__ import.
			p.notFirst()
			if p.matchStmt() {
				return
			}
		}
	}
	if t.kind == ptOp && t.text == "@" {
		p.notFirst()
		p.compound()
		return
	}
	p.simpleStmts()
}

func (p *pyparser) notFirst() { p.first = false }

func (p *pyparser) simpleStmts() {
	for p.err == nil {
		p.simpleStmt()
		if p.err != nil {
			return
		}
		if p.isOp(";") {
			p.p++
			if p.tok().kind == ptNewline {
				p.p++
				return
			}
			continue
		}
		if p.tok().kind == ptNewline {
			p.p++
			return
		}
		p.syntaxErr()
		return
	}
}

func (p *pyparser) simpleStmt() {
	t := p.tok()
	if t.kind == ptName {
		switch t.text {
		case "pass":
			p.p++
			p.notFirst()
			return
		case "break", "continue":
			p.p++
			p.notFirst()
			if p.sc.exceptStar > 0 && p.sc.loops <= p.sc.exceptStarLoops() {
				p.lateFail(3, t.line, "'break', 'continue' and 'return' cannot appear in an except* block")
				return
			}
			if p.sc.loops == 0 {
				if t.text == "break" {
					p.lateFail(3, t.line, "'break' outside loop")
				} else {
					p.lateFail(3, t.line, "'continue' not properly in loop")
				}
			}
			return
		case "return":
			p.p++
			p.notFirst()
			if p.sc.kind != scFunc {
				p.lateFail(3, t.line, "'return' outside function")
			} else if p.sc.exceptStar > 0 {
				p.lateFail(3, t.line, "'break', 'continue' and 'return' cannot appear in an except* block")
			}
			if !p.atStmtEnd() {
				p.checkBareStar(p.starExpressions())
				if p.sc.kind == scFunc && p.sc.returnsVal == 0 {
					p.sc.returnsVal = t.line
				}
			}
			return
		case "raise":
			p.p++
			p.notFirst()
			if !p.atStmtEnd() {
				p.expression()
				if p.isKw("from") {
					p.p++
					p.expression()
				}
			}
			return
		case "global", "nonlocal":
			p.p++
			p.notFirst()
			p.globalStmt(t)
			return
		case "del":
			p.p++
			p.notFirst()
			p.delStmt(t.line)
			return
		case "assert":
			p.p++
			p.notFirst()
			p.expression()
			if p.isOp(",") {
				p.p++
				p.expression()
			}
			return
		case "import":
			p.p++
			p.notFirst()
			p.importName()
			return
		case "from":
			p.p++
			p.importFrom(t.line)
			return
		case "type":
			if n := p.peek(1); n.kind == ptName && !pyHardKeywords[n.text] {
				if n2 := p.peek(2); n2.kind == ptOp && (n2.text == "=" || n2.text == "[") {
					p.p++
					p.notFirst()
					p.typeAlias()
					return
				}
			}
		case "print", "exec":
			if n := p.peek(1); (n.kind == ptString || n.kind == ptNumber || n.kind == ptFStart || (n.kind == ptName && !pyHardKeywords[n.text])) && p.peek(1).line == t.line {
				p.fail(t.line, "Missing parentheses in call to '%s'. Did you mean %s(...)?", t.text, t.text)
				return
			}
		}
	}
	p.exprStmt()
}

func (s *pscope) exceptStarLoops() int { return s.loops }

func (p *pyparser) atStmtEnd() bool {
	t := p.tok()
	return t.kind == ptNewline || t.kind == ptEnd || (t.kind == ptOp && t.text == ";")
}

// exprStmt: assignment, augmented or annotated assignment, or an expression.
func (p *pyparser) exprStmt() {
	start := p.tok()
	docstring := p.first && !p.docSeen && start.kind == ptString && p.isLoneString() && p.sc.kind == scModule
	if docstring {
		p.docSeen = true
	}
	if !docstring {
		p.notFirst()
	} else {
		p.first = true
	}
	if p.isKw("yield") {
		e := p.yieldExpr()
		if p.isOp("=") {
			p.fail(e.line, "assignment to yield expression not possible")
		}
		return
	}
	e := p.starExpressions()
	if p.err != nil {
		return
	}
	t := p.tok()
	if t.kind != ptOp {
		if t.kind == ptNewline || t.kind == ptEnd {
			p.checkBareStar(e)
			return
		}
		p.invalidAfter(e)
		return
	}
	switch t.text {
	case "=":
		targets := []pexpr{e}
		for p.isOp("=") && p.err == nil {
			eq := p.adv()
			if p.isKw("yield") {
				v := p.yieldExpr()
				targets = append(targets, v)
				continue
			}
			if p.atStmtEnd() {
				p.fail(eq.line, "invalid syntax")
				return
			}
			v := p.starExpressions()
			targets = append(targets, v)
		}
		if p.err != nil {
			return
		}
		for _, tg := range targets[:len(targets)-1] {
			p.target(tg, "assign", false)
			if p.err != nil {
				return
			}
		}
		p.checkBareStar(targets[len(targets)-1])
	case ":":
		p.p++
		if e.kind == exTuple && !e.parens || e.kind == exTuple {
			p.fail(e.line, "only single target (not tuple) can be annotated")
			return
		}
		if e.kind == exList {
			p.fail(e.line, "only single target (not list) can be annotated")
			return
		}
		if e.kind != exName && e.kind != exAttr && e.kind != exSubscript {
			p.fail(e.line, "illegal target for annotation")
			return
		}
		if e.kind == exSubscript && e.name == "*" {
			p.fail(e.line, "can't use starred expression here")
			return
		}
		p.target(e, "assign", false)
		p.expression()
		if p.isOp("=") {
			p.p++
			if p.isKw("yield") {
				p.yieldExpr()
			} else {
				p.checkBareStar(p.starExpressions())
			}
		}
	case "+=", "-=", "*=", "@=", "/=", "%=", "&=", "|=", "^=", "<<=", ">>=", "**=", "//=":
		p.p++
		if e.kind != exName && e.kind != exAttr && e.kind != exSubscript {
			what := map[ekind]string{exTuple: "tuple", exList: "list", exStarred: "starred"}[e.kind]
			if what == "" {
				what = exWhat[e.kind]
			}
			p.fail(e.line, "'%s' is an illegal expression for augmented assignment", what)
			return
		}
		p.target(e, "assign", false)
		if p.isKw("yield") {
			p.yieldExpr()
		} else {
			p.checkBareStar(p.starExpressions())
		}
	default:
		if !p.atStmtEnd() {
			p.invalidAfter(e)
			return
		}
		p.checkBareStar(e)
	}
}

func (p *pyparser) isLoneString() bool {
	i := p.p
	for i < len(p.toks) && p.toks[i].kind == ptString {
		i++
	}
	k := p.toks[i]
	return k.kind == ptNewline || k.kind == ptEnd || (k.kind == ptOp && k.text == ";")
}

// invalidAfter reports an unexpected token after an expression, with
// CPython's hint for two expressions in a row.
func (p *pyparser) invalidAfter(e pexpr) {
	t := p.tok()
	if t.kind == ptName || t.kind == ptNumber || t.kind == ptString || t.kind == ptFStart {
		if !pyHardKeywords[t.text] || t.kind != ptName {
			p.fail(t.line, "invalid syntax. Perhaps you forgot a comma?")
			return
		}
	}
	p.syntaxErr()
}

func (p *pyparser) checkBareStar(e pexpr) {
	if e.kind == exStarred {
		p.fail(e.line, "can't use starred expression here")
	}
}

// target checks an assignment (or for/with/del) target and records the
// names it binds.
func (p *pyparser) target(e pexpr, ctx string, starOK bool) {
	if p.err != nil {
		return
	}
	switch e.kind {
	case exName:
		if e.name == "__debug__" {
			p.fail(e.line, "cannot assign to __debug__")
			return
		}
		p.bind(e.name, e.line)
	case exAttr:
		if e.name == "__debug__" && ctx != "del" {
			p.fail(e.line, "cannot assign to __debug__")
		}
	case exSubscript:
	case exStarred:
		if ctx == "del" {
			p.fail(e.line, "cannot delete starred")
			return
		}
		if !starOK {
			p.fail(e.line, "starred assignment target must be in a list or tuple")
			return
		}
		p.target(e.elts[0], ctx, false)
	case exTuple, exList:
		stars := 0
		for _, x := range e.elts {
			if x.kind == exStarred {
				stars++
			}
		}
		if stars > 1 && ctx != "del" {
			p.fail(e.line, "multiple starred expressions in assignment")
			return
		}
		for _, x := range e.elts {
			if x.kind == exStarred {
				if ctx == "del" {
					p.fail(x.line, "cannot delete starred")
					return
				}
				p.target(x.elts[0], ctx, false)
				continue
			}
			p.target(x, ctx, false)
		}
	case exConst:
		if ctx == "del" {
			p.fail(e.line, "cannot delete %s", e.name)
		} else {
			p.fail(e.line, "cannot assign to %s", e.name)
		}
	default:
		what := exWhat[e.kind]
		switch {
		case ctx == "del":
			p.fail(e.line, "cannot delete %s", what)
		case ctx == "assign" && (e.kind == exCall || e.kind == exLiteral || e.kind == exBinOp || e.kind == exNamed || e.kind == exCompare || e.kind == exOther || e.kind == exBoolOp):
			p.fail(e.line, "cannot assign to %s here. Maybe you meant '==' instead of '='?", what)
		default:
			p.fail(e.line, "cannot assign to %s", what)
		}
	}
}

func (p *pyparser) bind(name string, line int) {
	if name == "__debug__" {
		p.lateFail(3, line, "cannot assign to __debug__")
	}
	s := p.sc
	if s.kind == scComp {
		// comprehension targets are the comprehension's own
		s.bound[name] = true
		return
	}
	if s.bound == nil {
		s.bound = map[string]bool{}
	}
	s.bound[name] = true
}

func (p *pyparser) use(name string) {
	if p.sc.used == nil {
		p.sc.used = map[string]bool{}
	}
	p.sc.used[name] = true
}

func (p *pyparser) delStmt(line int) {
	if p.atStmtEnd() {
		p.fail(line, "invalid syntax")
		return
	}
	for p.err == nil {
		e := p.bitOr()
		if p.isKw("for") || p.isKw("if") || p.isKw("and") || p.isKw("or") || (p.tok().kind == ptOp && (p.tok().text == "<" || p.tok().text == ">" || p.tok().text == "==" || p.tok().text == "!=")) {
			p.fail(e.line, "cannot delete expression")
			return
		}
		p.target(e, "del", false)
		if !p.isOp(",") {
			break
		}
		p.p++
		if p.atStmtEnd() {
			break
		}
	}
}

func (p *pyparser) globalStmt(kw ptok) {
	s := p.sc
	for p.err == nil {
		if !p.isName() {
			p.syntaxErr()
			return
		}
		n := p.adv()
		switch {
		case kw.text == "nonlocal" && s.kind == scModule:
			p.lateFail(2, kw.line, "nonlocal declaration not allowed at module level")
		case s.params[n.text]:
			p.lateFail(2, kw.line, "name '%s' is parameter and %s", n.text, kw.text)
		case s.declared[n.text] != "" && s.declared[n.text] != kw.text:
			p.lateFail(2, kw.line, "name '%s' is nonlocal and global", n.text)
		case s.bound[n.text]:
			p.lateFail(2, kw.line, "name '%s' is assigned to before %s declaration", n.text, kw.text)
		case s.used[n.text]:
			p.lateFail(2, kw.line, "name '%s' is used prior to %s declaration", n.text, kw.text)
		}
		if s.declared == nil {
			s.declared = map[string]string{}
		}
		s.declared[n.text] = kw.text
		if kw.text == "nonlocal" && s.kind != scModule {
			n.line = kw.line
			s.nonlocals = append(s.nonlocals, n)
		}
		if !p.isOp(",") {
			return
		}
		p.p++
	}
}

func (p *pyparser) dottedName() bool {
	if !p.isName() {
		p.syntaxErr()
		return false
	}
	p.p++
	for p.isOp(".") {
		p.p++
		if !p.isName() {
			p.syntaxErr()
			return false
		}
		p.p++
	}
	return true
}

func (p *pyparser) importName() {
	for p.err == nil {
		first := p.tok()
		if !p.dottedName() {
			return
		}
		name := first.text
		if p.isKw("as") {
			p.p++
			if !p.isName() {
				p.syntaxErr()
				return
			}
			name = p.adv().text
		}
		p.bind(name, first.line)
		if !p.isOp(",") {
			return
		}
		p.p++
	}
}

var futureFeatures = map[string]bool{
	"nested_scopes": true, "generators": true, "division": true, "absolute_import": true, "with_statement": true,
	"print_function": true, "unicode_literals": true, "barry_as_FLUFL": true, "generator_stop": true, "annotations": true,
}

func (p *pyparser) importFrom(line int) {
	dots := 0
	for p.isOp(".") || p.isOp("...") {
		dots += len(p.adv().text)
	}
	module := ""
	if dots == 0 && p.isKw("import") {
		p.syntaxErr()
		return
	}
	if !p.isKw("import") {
		if !p.isName() {
			p.syntaxErr()
			return
		}
		var b strings.Builder
		b.WriteString(p.tok().text)
		p.p++
		for p.isOp(".") {
			p.p++
			if !p.isName() {
				p.syntaxErr()
				return
			}
			b.WriteString("." + p.adv().text)
		}
		module = b.String()
	}
	future := dots == 0 && module == "__future__"
	if future && (!p.first || p.sc.kind != scModule) {
		p.lateFail(1, line, "from __future__ imports must occur at the beginning of the file")
		future = false
	}
	if !future {
		p.notFirst()
	}
	if !p.expectKw("import") {
		return
	}
	if p.isOp("*") {
		p.p++
		if p.sc.kind != scModule {
			p.lateFail(2, line, "import * only allowed at module level")
		}
		return
	}
	paren := p.isOp("(")
	if paren {
		p.p++
	}
	n := 0
	for p.err == nil {
		if paren && p.isOp(")") && n > 0 {
			break
		}
		if !p.isName() {
			p.syntaxErr()
			return
		}
		nt := p.adv()
		if future {
			if nt.text == "braces" {
				p.lateFail(1, line, "not a chance")
			} else if !futureFeatures[nt.text] {
				p.lateFail(1, line, "future feature %s is not defined", nt.text)
			}
		}
		name := nt.text
		if p.isKw("as") {
			p.p++
			if !p.isName() {
				p.syntaxErr()
				return
			}
			name = p.adv().text
		}
		p.bind(name, nt.line)
		n++
		if !p.isOp(",") {
			break
		}
		comma := p.adv()
		if !paren && p.atStmtEnd() {
			p.fail(comma.line, "trailing comma not allowed without surrounding parentheses")
			return
		}
	}
	if paren {
		p.expectOp(")")
	}
}

func (p *pyparser) typeAlias() {
	n := p.adv()
	p.bind(n.text, n.line)
	outer := p.sc
	if p.isOp("[") {
		p.push(scFunc)
		p.typeParams()
	}
	if p.expectOp("=") {
		p.typeCtx = "a type alias"
		p.expression()
		p.typeCtx = ""
	}
	if p.sc != outer {
		p.pop()
	}
}

func (p *pyparser) typeParams() {
	p.expectOp("[")
	seen := map[string]bool{}
	for p.err == nil {
		if p.isOp("]") && len(seen) > 0 {
			break
		}
		star := ""
		if p.isOp("*") || p.isOp("**") {
			star = p.adv().text
		}
		if !p.isName() {
			p.syntaxErr()
			return
		}
		n := p.adv()
		if seen[n.text] {
			p.lateFail(2, n.line, "duplicate type parameter '%s'", n.text)
		}
		seen[n.text] = true
		p.bind(n.text, n.line)
		if p.isOp(":") {
			p.p++
			if star != "" {
				p.syntaxErr()
				return
			}
			saved := p.typeCtx
			p.typeCtx = "a TypeVar bound"
			p.expression()
			p.typeCtx = saved
		}
		if !p.isOp(",") {
			break
		}
		p.p++
	}
	p.expectOp("]")
}

func (p *pyparser) push(k scopeKind) *pscope {
	s := &pscope{kind: k, parent: p.sc, params: map[string]bool{}, bound: map[string]bool{}}
	p.sc = s
	return s
}

func (p *pyparser) pop() {
	s := p.sc
	p.closeScope(s)
	p.sc = s.parent
}

// closeScope resolves the scope's nonlocal declarations against the
// enclosing function scopes, as the symbol table does.
func (p *pyparser) closeScope(s *pscope) {
	if p.err != nil {
		return
	}
	if s.kind == scFunc && s.async && s.generator && s.returnsVal > 0 {
		p.lateFail(3, s.returnsVal, "'return' with value in async generator")
	}
	// Nonlocal names are resolved against enclosing function scopes once
	// those are complete (a binding may follow the inner function).
	var pending []ptok
	for _, n := range s.nonlocals {
		if s.kind != scModule && s.parent != nil {
			pending = append(pending, n)
		}
	}
	for _, ch := range s.childNonlocals {
		switch {
		case s.kind == scClass:
			pending = append(pending, ch)
		case s.kind == scModule:
			p.lateFail(2, ch.line, "no binding for nonlocal '%s' found", ch.text)
		case s.declared[ch.text] == "global":
			p.lateFail(2, ch.line, "no binding for nonlocal '%s' found", ch.text)
		case s.params[ch.text] || s.bound[ch.text] || s.declared[ch.text] == "nonlocal":
			// bound here (or passed further up by this scope's own nonlocal)
		default:
			pending = append(pending, ch)
		}
	}
	if s.parent != nil {
		s.parent.childNonlocals = append(s.parent.childNonlocals, pending...)
	}
}

// ---- compound statements ----

func (p *pyparser) compound() {
	t := p.tok()
	if t.kind == ptOp && t.text == "@" {
		for p.isOp("@") && p.err == nil {
			p.p++
			p.namedExpression()
			if p.tok().kind != ptNewline {
				p.syntaxErr()
				return
			}
			p.p++
		}
		if p.isKw("def") || p.isKw("class") || (p.isKw("async") && p.peek(1).kind == ptName && p.peek(1).text == "def") {
			p.compound()
			return
		}
		p.syntaxErr()
		return
	}
	switch t.text {
	case "def":
		p.funcDef(false)
	case "async":
		p.p++
		switch {
		case p.isKw("def"):
			p.funcDef(true)
		case p.isKw("with"), p.isKw("for"):
			kw := p.tok().text
			if !p.inAsyncFunc() {
				p.lateFail(3, t.line, "'async %s' outside async function", kw)
			}
			if kw == "with" {
				p.withStmt()
			} else {
				p.forStmt()
			}
		default:
			p.syntaxErr()
		}
	case "class":
		p.classDef()
	case "if":
		p.ifStmt()
	case "while":
		p.p++
		p.namedExpression()
		if !p.expectOp(":") {
			return
		}
		p.sc.loops++
		p.block("'while' statement", t.line)
		p.sc.loops--
		p.elseBlock()
	case "for":
		p.forStmt()
	case "with":
		p.withStmt()
	case "try":
		p.tryStmt()
	}
}

func (p *pyparser) inAsyncFunc() bool {
	s := p.sc
	for s.kind == scComp {
		s = s.parent
	}
	return s.kind == scFunc && s.async
}

func (p *pyparser) elseBlock() {
	if p.isKw("else") {
		t := p.adv()
		if p.expectOp(":") {
			p.block("'else' statement", t.line)
		}
	}
}

func (p *pyparser) ifStmt() {
	t := p.adv()
	p.namedExpression()
	if !p.expectOp(":") {
		return
	}
	p.block("'if' statement", t.line)
	for p.isKw("elif") && p.err == nil {
		e := p.adv()
		p.namedExpression()
		if !p.expectOp(":") {
			return
		}
		p.block("'elif' statement", e.line)
	}
	p.elseBlock()
}

func (p *pyparser) forStmt() {
	t := p.adv() // for
	e := p.starTargets()
	if p.err != nil {
		return
	}
	p.target(e, "for", false)
	if !p.isKw("in") {
		p.fail(p.tok().line, "invalid syntax")
		return
	}
	p.p++
	p.checkBareStar(p.starExpressions())
	if !p.expectOp(":") {
		return
	}
	p.sc.loops++
	p.block("'for' statement", t.line)
	p.sc.loops--
	p.elseBlock()
}

// starTargets parses the target list of a for statement or comprehension.
func (p *pyparser) starTargets() pexpr {
	first := p.starTarget()
	if !p.isOp(",") {
		return first
	}
	elts := []pexpr{first}
	for p.isOp(",") && p.err == nil {
		p.p++
		if p.isKw("in") || p.isOp("=") {
			break
		}
		elts = append(elts, p.starTarget())
	}
	return pexpr{kind: exTuple, line: first.line, elts: elts}
}

func (p *pyparser) starTarget() pexpr {
	if p.isOp("*") {
		t := p.adv()
		inner := p.bitOr()
		return pexpr{kind: exStarred, line: t.line, elts: []pexpr{inner}}
	}
	return p.bitOr()
}

func (p *pyparser) withStmt() {
	t := p.adv() // with
	// with ( items ) : where items have `as` — else the parenthesis is an expression
	if p.isOp("(") && p.parenthesizedWithItems() {
		p.p++
		for p.err == nil {
			p.withItem()
			if !p.isOp(",") {
				break
			}
			p.p++
			if p.isOp(")") {
				break
			}
		}
		p.expectOp(")")
	} else {
		for p.err == nil {
			p.withItem()
			if !p.isOp(",") {
				break
			}
			p.p++
		}
	}
	if !p.expectOp(":") {
		return
	}
	p.block("'with' statement", t.line)
}

// parenthesizedWithItems reports whether `with (` opens a parenthesized list
// of with-items (followed by `:`) rather than an expression.
func (p *pyparser) parenthesizedWithItems() bool {
	depth := 0
	for i := p.p; i < len(p.toks); i++ {
		t := p.toks[i]
		if t.kind == ptOp {
			switch t.text {
			case "(", "[", "{":
				depth++
			case ")", "]", "}":
				depth--
				if depth == 0 {
					n := p.toks[i+1]
					return n.kind == ptOp && n.text == ":"
				}
			}
		}
		if t.kind == ptNewline || t.kind == ptEnd {
			return false
		}
	}
	return false
}

func (p *pyparser) withItem() {
	p.expression()
	if p.isKw("as") {
		p.p++
		e := p.starTarget()
		if p.err != nil {
			return
		}
		if !(p.isOp(",") || p.isOp(")") || p.isOp(":")) {
			p.syntaxErr()
			return
		}
		p.target(e, "with", false)
	}
}

func (p *pyparser) tryStmt() {
	t := p.adv()
	if !p.expectOp(":") {
		return
	}
	p.block("'try' statement", t.line)
	handlers := 0
	star := -1
	for p.isKw("except") && p.err == nil {
		e := p.adv()
		isStar := false
		if p.isOp("*") {
			p.p++
			isStar = true
		}
		if star >= 0 && (star == 1) != isStar {
			p.fail(e.line, "cannot have both 'except' and 'except*' on the same 'try'")
			return
		}
		if isStar {
			star = 1
		} else {
			star = 0
		}
		if p.isOp(":") {
			if isStar {
				p.fail(e.line, "expected one or more exception types")
				return
			}
		} else {
			x := p.expression()
			if p.isOp(",") {
				p.p++
				p.expression()
				if p.isKw("as") || p.isOp(":") {
					p.fail(x.line, "multiple exception types must be parenthesized")
					return
				}
				p.syntaxErr()
				return
			}
			if p.isKw("as") {
				p.p++
				if !p.isName() {
					p.syntaxErr()
					return
				}
				n := p.adv()
				p.bind(n.text, n.line)
			}
		}
		if !p.expectOp(":") {
			return
		}
		if isStar {
			p.sc.exceptStar++
			saved := p.sc.loops
			p.sc.loops = 0
			p.block("'except*' statement", e.line)
			p.sc.loops = saved
			p.sc.exceptStar--
		} else {
			p.block("'except' statement", e.line)
		}
		handlers++
	}
	if handlers > 0 {
		p.elseBlock()
	}
	if p.isKw("finally") {
		f := p.adv()
		if p.expectOp(":") {
			p.block("'finally' statement", f.line)
		}
		return
	}
	if handlers == 0 && p.err == nil {
		p.fail(p.tok().line, "expected 'except' or 'finally' block")
	}
}

func (p *pyparser) classDef() {
	t := p.adv()
	if !p.isName() {
		p.syntaxErr()
		return
	}
	n := p.adv()
	p.bind(n.text, n.line)
	outer := p.sc
	if p.isOp("[") {
		p.push(scFunc)
		p.typeParams()
		p.typeCtx = "the definition of a generic"
	}
	if p.isOp("(") {
		p.p++
		p.callArgs(false)
		if p.err != nil {
			return
		}
	}
	p.typeCtx = ""
	if !p.expectOp(":") {
		return
	}
	p.push(scClass)
	p.block("class definition", t.line)
	p.pop()
	for p.sc != outer {
		p.pop()
	}
}

func (p *pyparser) funcDef(async bool) {
	t := p.adv() // def
	if !p.isName() {
		p.syntaxErr()
		return
	}
	n := p.adv()
	p.bind(n.text, n.line)
	outer := p.sc
	if p.isOp("[") {
		p.push(scFunc)
		p.typeParams()
		p.typeCtx = "the definition of a generic"
	}
	if !p.expectOp("(") {
		return
	}
	params := map[string]bool{}
	p.parameters(")", params, true)
	if !p.expectOp(")") {
		return
	}
	if p.isOp("->") {
		p.p++
		p.expression()
	}
	p.typeCtx = ""
	if !p.expectOp(":") {
		return
	}
	s := p.push(scFunc)
	s.async = async
	s.params = params
	for k := range params {
		s.bound[k] = true
	}
	p.block("function definition", t.line)
	p.pop()
	for p.sc != outer {
		p.pop()
	}
}

// parameters parses a def's (or lambda's) parameter list up to close.
func (p *pyparser) parameters(close string, names map[string]bool, annotations bool) {
	state := 0 // 0 positional, 1 after *, 2 after **
	sawDefault, sawSlash, anyParam := false, false, false
	bareStar, kwAfterStar := false, false
	for p.err == nil && !p.isOp(close) {
		t := p.tok()
		switch {
		case p.isOp("/"):
			if !anyParam || state > 0 {
				if state > 0 {
					p.fail(t.line, "/ must be ahead of *")
				} else {
					p.fail(t.line, "at least one argument must precede /")
				}
				return
			}
			if sawSlash {
				p.fail(t.line, "/ may appear only once")
				return
			}
			sawSlash = true
			p.p++
		case p.isOp("*"):
			if state == 2 {
				p.fail(t.line, "arguments cannot follow var-keyword argument")
				return
			}
			if state == 1 {
				p.fail(t.line, "* argument may appear only once")
				return
			}
			p.p++
			state = 1
			if p.isOp(",") || p.isOp(close) {
				bareStar = true
			} else {
				p.param(names, annotations, true)
			}
		case p.isOp("**"):
			if state == 2 {
				p.fail(t.line, "arguments cannot follow var-keyword argument")
				return
			}
			p.p++
			p.param(names, annotations, false)
			state = 2
			if p.isOp("=") {
				p.fail(t.line, "var-keyword argument cannot have default value")
				return
			}
		default:
			if state == 2 {
				p.fail(t.line, "arguments cannot follow var-keyword argument")
				return
			}
			p.param(names, annotations, false)
			anyParam = true
			if state == 1 {
				kwAfterStar = true
			}
			if p.isOp("=") {
				p.p++
				p.expression()
				if state == 0 {
					sawDefault = true
				}
			} else if sawDefault && state == 0 {
				p.fail(t.line, "parameter without a default follows parameter with a default")
				return
			}
		}
		if p.err != nil {
			return
		}
		if !p.isOp(",") {
			break
		}
		p.p++
	}
	if bareStar && !kwAfterStar && p.err == nil {
		p.fail(p.tok().line, "named arguments must follow bare *")
	}
}

func (p *pyparser) param(names map[string]bool, annotations, starAnn bool) {
	if !p.isName() {
		p.syntaxErr()
		return
	}
	n := p.adv()
	if names[n.text] {
		p.lateFail(2, n.line, "duplicate argument '%s' in function definition", n.text)
	}
	if n.text == "__debug__" {
		p.fail(n.line, "cannot assign to __debug__")
		return
	}
	names[n.text] = true
	if annotations && p.isOp(":") {
		p.p++
		if starAnn && p.isOp("*") {
			p.p++
			p.bitOr()
			return
		}
		p.expression()
	}
}

// ---- match ----

// matchStmt parses a match statement if `match` starts one (it is a soft
// keyword); it returns false, consuming nothing, when it does not.
func (p *pyparser) matchStmt() bool {
	save := p.p
	saveErr := p.err
	t := p.adv()
	// match subject: must be followed by ':' NEWLINE INDENT case
	if p.atStmtEnd() || p.isOp("=") || p.isOp(".") || p.isOp("(") && false {
		p.p = save
		return false
	}
	// Try the subject; on failure it is not a match statement.
	tmp := *p
	tmp.err = nil
	tmp.sc = &pscope{kind: scFunc, parent: p.sc, bound: map[string]bool{}, params: map[string]bool{}}
	tmp.starNamedExpressions()
	if tmp.err != nil || !tmp.isOp(":") || tmp.peek(1).kind != ptNewline {
		p.p = save
		p.err = saveErr
		return false
	}
	p.starNamedExpressions()
	if !p.expectOp(":") {
		return true
	}
	if p.tok().kind != ptNewline {
		p.syntaxErr()
		return true
	}
	p.p++
	if p.tok().kind != ptIndent {
		p.fail(p.tok().line, "expected an indented block after 'match' statement on line %d", t.line)
		return true
	}
	p.p++
	cases := 0
	irrefutable := ""
	irrLine := 0
	for p.err == nil && p.isKw("case") {
		c := p.adv()
		if irrefutable != "" {
			p.lateFail(3, irrLine, "%s makes remaining patterns unreachable", irrefutable)
			irrefutable = ""
		}
		names := map[string]bool{}
		pat := p.patterns(names)
		if p.err != nil {
			return true
		}
		guard := false
		if p.isKw("if") {
			p.p++
			p.namedExpression()
			guard = true
		}
		if !p.expectOp(":") {
			return true
		}
		if !guard && pat != "" {
			irrefutable, irrLine = pat, c.line
		}
		p.block("'case' statement", c.line)
		cases++
	}
	if cases == 0 && p.err == nil {
		p.syntaxErr()
		return true
	}
	if p.tok().kind == ptDedent {
		p.p++
	} else if p.err == nil && p.tok().kind != ptEnd {
		p.syntaxErr()
	}
	return true
}

// patterns parses a case's pattern(s); it returns a description when the
// pattern is irrefutable ("name capture 'x'" or "wildcard").
func (p *pyparser) patterns(names map[string]bool) string {
	first := p.tok()
	irr := p.asPattern(names, true)
	if p.isOp(",") {
		for p.isOp(",") && p.err == nil {
			p.p++
			if p.isOp(":") || p.isKw("if") {
				break
			}
			p.asPattern(names, true)
		}
		_ = first
		return ""
	}
	return irr
}

func (p *pyparser) asPattern(names map[string]bool, starOK bool) string {
	if p.isOp("*") {
		if !starOK {
			p.syntaxErr()
			return ""
		}
		p.p++
		if !p.isName() {
			p.syntaxErr()
			return ""
		}
		n := p.adv()
		if n.text != "_" {
			p.capture(names, n)
		}
		return ""
	}
	irr := p.orPattern(names)
	if p.isKw("as") {
		p.p++
		if !p.isName() {
			p.syntaxErr()
			return ""
		}
		n := p.adv()
		if n.text == "_" {
			p.fail(n.line, "cannot use '_' as a target")
			return ""
		}
		p.capture(names, n)
		if irr != "" {
			return fmt.Sprintf("name capture '%s'", n.text)
		}
	}
	return irr
}

func (p *pyparser) capture(names map[string]bool, n ptok) {
	if names[n.text] {
		p.lateFail(3, n.line, "multiple assignments to name '%s' in pattern", n.text)
	}
	names[n.text] = true
	p.bind(n.text, n.line)
}

func (p *pyparser) orPattern(names map[string]bool) string {
	var alts []map[string]bool
	var irrs []string
	for p.err == nil {
		m := map[string]bool{}
		irr := p.closedPattern(m)
		alts = append(alts, m)
		irrs = append(irrs, irr)
		if !p.isOp("|") {
			break
		}
		p.p++
	}
	if p.err != nil {
		return ""
	}
	line := p.tok().line
	for i := range alts {
		if i < len(alts)-1 && irrs[i] != "" {
			p.lateFail(3, line, "%s makes remaining patterns unreachable", irrs[i])
			break
		}
		same := len(alts[i]) == len(alts[0])
		for k := range alts[i] {
			same = same && alts[0][k]
		}
		if !same {
			p.lateFail(3, line, "alternative patterns bind different names")
			break
		}
	}
	for k := range alts[0] {
		if names[k] {
			p.lateFail(3, line, "multiple assignments to name '%s' in pattern", k)
		}
		names[k] = true
	}
	return irrs[len(irrs)-1]
}

func (p *pyparser) signedNumber() bool {
	if p.isOp("-") {
		p.p++
	}
	if p.tok().kind != ptNumber {
		p.syntaxErr()
		return false
	}
	real := p.adv()
	if p.isOp("+") || p.isOp("-") {
		p.p++
		if p.tok().kind != ptNumber {
			p.syntaxErr()
			return false
		}
		imag := p.adv()
		if isImaginary(p.src[real.start:real.end]) {
			p.fail(real.line, "real number required in complex literal")
			return false
		}
		if !isImaginary(p.src[imag.start:imag.end]) {
			p.fail(imag.line, "imaginary number required in complex literal")
			return false
		}
	}
	return true
}

func isImaginary(num string) bool { return strings.HasSuffix(num, "j") || strings.HasSuffix(num, "J") }

func (p *pyparser) closedPattern(names map[string]bool) string {
	t := p.tok()
	switch {
	case t.kind == ptNumber || p.isOp("-"):
		p.signedNumber()
	case t.kind == ptString || t.kind == ptFStart:
		for i := p.p; p.toks[i].kind == ptString || p.toks[i].kind == ptFStart; i++ {
			if p.toks[i].kind == ptFStart {
				p.fail(t.line, "patterns may only match literals and attribute lookups")
				return ""
			}
		}
		p.strings()
	case p.isKw("None") || p.isKw("True") || p.isKw("False"):
		p.p++
	case p.isOp("(") || p.isOp("["):
		open := p.adv()
		close := map[string]string{"(": ")", "[": "]"}[open.text]
		n := 0
		comma := false
		var irr string
		for p.err == nil && !p.isOp(close) {
			irr = p.asPattern(names, true)
			n++
			if !p.isOp(",") {
				break
			}
			comma = true
			p.p++
		}
		p.expectOp(close)
		if open.text == "(" && n == 1 && !comma {
			return irr // a parenthesized pattern
		}
	case p.isOp("{"):
		p.p++
		keys := map[string]bool{}
		for p.err == nil && !p.isOp("}") {
			if p.isOp("**") {
				p.p++
				if !p.isName() {
					p.syntaxErr()
					return ""
				}
				n := p.adv()
				p.capture(names, n)
				if p.isOp(",") {
					p.p++
				}
				if !p.isOp("}") {
					p.syntaxErr()
				}
				break
			}
			k := p.tok()
			key := ""
			switch {
			case k.kind == ptNumber || p.isOp("-"):
				s := p.p
				p.signedNumber()
				key = p.srcOf(s, p.p)
			case k.kind == ptString:
				s := p.p
				for i := p.p; p.toks[i].kind == ptString || p.toks[i].kind == ptFStart; i++ {
					if p.toks[i].kind == ptFStart {
						p.fail(k.line, "mapping pattern keys may only match literals and attribute lookups")
						return ""
					}
				}
				p.strings()
				key = p.srcOf(s, p.p)
			case k.kind == ptFStart:
				p.fail(k.line, "patterns may only match literals and attribute lookups")
				return ""
			case p.isKw("None") || p.isKw("True") || p.isKw("False"):
				key = p.adv().text
			case p.isName():
				p.adv()
				if !p.isOp(".") {
					p.syntaxErr()
					return ""
				}
				for p.isOp(".") {
					p.p++
					if !p.isName() {
						p.syntaxErr()
						return ""
					}
					p.p++
				}
			default:
				p.syntaxErr()
				return ""
			}
			if key != "" {
				if keys[key] {
					p.lateFail(3, k.line, "mapping pattern checks duplicate key (%s)", key)
				}
				keys[key] = true
			}
			if !p.expectOp(":") {
				return ""
			}
			p.asPattern(names, false)
			if !p.isOp(",") {
				break
			}
			p.p++
		}
		p.expectOp("}")
	case p.isName():
		n := p.adv()
		if !p.isOp(".") && !p.isOp("(") {
			if n.text == "_" {
				return "wildcard"
			}
			p.capture(names, n)
			return fmt.Sprintf("name capture '%s'", n.text)
		}
		for p.isOp(".") {
			p.p++
			if !p.isName() {
				p.syntaxErr()
				return ""
			}
			p.p++
		}
		if p.isOp("(") {
			p.p++
			kw := map[string]bool{}
			sawKw := false
			for p.err == nil && !p.isOp(")") {
				if p.isName() && p.peek(1).kind == ptOp && p.peek(1).text == "=" {
					k := p.adv()
					p.p++
					if kw[k.text] {
						p.fail(k.line, "attribute name repeated in class pattern: %s", k.text)
						return ""
					}
					kw[k.text] = true
					sawKw = true
					p.asPattern(names, false)
				} else {
					if sawKw {
						p.fail(p.tok().line, "positional patterns follow keyword patterns")
						return ""
					}
					p.asPattern(names, false)
				}
				if !p.isOp(",") {
					break
				}
				p.p++
			}
			p.expectOp(")")
		}
	default:
		p.syntaxErr()
	}
	return ""
}

func (p *pyparser) srcOf(from, to int) string {
	var b strings.Builder
	for i := from; i < to; i++ {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(p.src[p.toks[i].start:p.toks[i].end])
	}
	return b.String()
}
