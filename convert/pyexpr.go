package convert

// Expressions of Python 3.12's grammar (python.gram), by precedence.

// starExpressions: star_expression (',' star_expression)* [',']
func (p *pyparser) starExpressions() pexpr {
	first := p.starExpression()
	if !p.isOp(",") {
		return first
	}
	elts := []pexpr{first}
	for p.isOp(",") && p.err == nil {
		p.p++
		if !p.startsExpr() {
			break
		}
		elts = append(elts, p.starExpression())
	}
	return pexpr{kind: exTuple, line: first.line, elts: elts}
}

func (p *pyparser) starExpression() pexpr {
	if p.isOp("*") {
		t := p.adv()
		inner := p.bitOr()
		return pexpr{kind: exStarred, line: t.line, elts: []pexpr{inner}}
	}
	return p.expression()
}

// starNamedExpressions: for match subjects, list and set displays.
func (p *pyparser) starNamedExpressions() pexpr {
	first := p.starNamedExpression()
	if !p.isOp(",") {
		return first
	}
	elts := []pexpr{first}
	for p.isOp(",") && p.err == nil {
		p.p++
		if !p.startsExpr() {
			break
		}
		elts = append(elts, p.starNamedExpression())
	}
	return pexpr{kind: exTuple, line: first.line, elts: elts}
}

func (p *pyparser) starNamedExpression() pexpr {
	if p.isOp("*") {
		t := p.adv()
		inner := p.bitOr()
		return pexpr{kind: exStarred, line: t.line, elts: []pexpr{inner}}
	}
	return p.namedExpression()
}

// startsExpr reports whether the current token can start an expression.
func (p *pyparser) startsExpr() bool {
	t := p.tok()
	switch t.kind {
	case ptName:
		switch t.text {
		case "None", "True", "False", "not", "lambda", "await", "yield":
			return true
		}
		return !pyHardKeywords[t.text]
	case ptNumber, ptString, ptFStart:
		return true
	case ptOp:
		switch t.text {
		case "(", "[", "{", "-", "+", "~", "*", "...":
			return true
		}
	}
	return false
}

func (p *pyparser) namedExpression() pexpr {
	if p.isName() && p.peek(1).kind == ptOp && p.peek(1).text == ":=" {
		n := p.adv()
		p.p++
		p.walrusTarget(n)
		p.expression()
		return pexpr{kind: exNamed, line: n.line}
	}
	e := p.expression()
	if p.isOp(":=") && p.err == nil {
		p.fail(e.line, "cannot use assignment expressions with %s", exWhat2(e))
	}
	return e
}

func exWhat2(e pexpr) string {
	switch e.kind {
	case exAttr:
		return "attribute"
	case exSubscript:
		return "subscript"
	case exTuple:
		return "tuple"
	case exList:
		return "list"
	case exConst:
		return e.name
	}
	return exWhat[e.kind]
}

// walrusTarget binds a := target in the enclosing non-comprehension scope.
func (p *pyparser) walrusTarget(n ptok) {
	if n.text == "__debug__" {
		p.fail(n.line, "cannot assign to __debug__")
		return
	}
	if p.typeCtx != "" {
		p.lateFail(2, n.line, "named expression cannot be used within %s", p.typeCtx)
	}
	s := p.sc
	for s.kind == scComp {
		if s.compVars[n.text] {
			p.lateFail(2, n.line, "assignment expression cannot rebind comprehension iteration variable '%s'", n.text)
			return
		}
		if s.compIter {
			p.lateFail(2, n.line, "assignment expression cannot be used in a comprehension iterable expression")
			return
		}
		s = s.parent
	}
	if s != p.sc && s.kind == scClass {
		p.lateFail(2, n.line, "assignment expression within a comprehension cannot be used in a class body")
		return
	}
	p.walrusLog = append(p.walrusLog, n)
	if s.bound == nil {
		s.bound = map[string]bool{}
	}
	s.bound[n.text] = true
}

func (p *pyparser) expression() pexpr {
	if p.err != nil {
		return pexpr{}
	}
	if p.isKw("lambda") {
		return p.lambdaDef()
	}
	e := p.disjunction()
	if p.isKw("if") && p.err == nil {
		p.p++
		p.disjunction()
		if !p.isKw("else") {
			if p.err == nil {
				p.fail(e.line, "expected 'else' after 'if' expression")
			}
			return e
		}
		p.p++
		p.expression()
		return pexpr{kind: exIfExp, line: e.line}
	}
	return e
}

func (p *pyparser) lambdaDef() pexpr {
	t := p.adv()
	names := map[string]bool{}
	p.parameters(":", names, false)
	if !p.expectOp(":") {
		return pexpr{}
	}
	s := p.push(scLambda)
	s.params = names
	for k := range names {
		s.bound[k] = true
	}
	p.expression()
	p.pop()
	return pexpr{kind: exLambda, line: t.line}
}

func (p *pyparser) disjunction() pexpr {
	e := p.conjunction()
	if !p.isKw("or") {
		return e
	}
	for p.isKw("or") && p.err == nil {
		p.p++
		p.conjunction()
	}
	return pexpr{kind: exBoolOp, line: e.line}
}

func (p *pyparser) conjunction() pexpr {
	e := p.inversion()
	if !p.isKw("and") {
		return e
	}
	for p.isKw("and") && p.err == nil {
		p.p++
		p.inversion()
	}
	return pexpr{kind: exBoolOp, line: e.line}
}

func (p *pyparser) inversion() pexpr {
	if p.isKw("not") {
		t := p.adv()
		p.inversion()
		return pexpr{kind: exUnary, line: t.line}
	}
	return p.comparison()
}

func (p *pyparser) compOp() bool {
	t := p.tok()
	switch t.kind {
	case ptOp:
		switch t.text {
		case "==", "!=", "<", "<=", ">", ">=":
			p.p++
			return true
		}
	case ptName:
		switch t.text {
		case "in":
			p.p++
			return true
		case "is":
			p.p++
			if p.isKw("not") {
				p.p++
			}
			return true
		case "not":
			if n := p.peek(1); n.kind == ptName && n.text == "in" {
				p.p += 2
				return true
			}
		}
	}
	return false
}

func (p *pyparser) comparison() pexpr {
	e := p.bitOr()
	found := false
	for p.err == nil && p.compOp() {
		found = true
		p.bitOr()
	}
	if found {
		return pexpr{kind: exCompare, line: e.line}
	}
	return e
}

// binary levels, by precedence: | ^ & << >> + - * / // % @
func binLevel(t ptok) int {
	if t.kind != ptOp {
		return 0
	}
	switch t.text {
	case "|":
		return 1
	case "^":
		return 2
	case "&":
		return 3
	case "<<", ">>":
		return 4
	case "+", "-":
		return 5
	case "*", "/", "//", "%", "@":
		return 6
	}
	return 0
}

// binary parses operators of precedence level and above by precedence
// climbing (all of them are left-associative): one call per operator
// present rather than one per level.
func (p *pyparser) binary(level int) pexpr {
	e := p.factor()
	for p.err == nil {
		l := binLevel(p.tok())
		if l < level || l == 0 {
			return e
		}
		p.p++
		p.binary(l + 1)
		e = pexpr{kind: exBinOp, line: e.line}
	}
	return e
}

func (p *pyparser) bitOr() pexpr { return p.binary(1) }

func (p *pyparser) factor() pexpr {
	if p.isOp("+") || p.isOp("-") || p.isOp("~") {
		t := p.adv()
		p.factor()
		return pexpr{kind: exUnary, line: t.line}
	}
	return p.power()
}

func (p *pyparser) power() pexpr {
	e := p.awaitPrimary()
	if p.isOp("**") && p.err == nil {
		p.p++
		p.factor()
		return pexpr{kind: exBinOp, line: e.line}
	}
	return e
}

func (p *pyparser) awaitPrimary() pexpr {
	if p.isKw("await") {
		t := p.adv()
		p.primary()
		if p.typeCtx != "" {
			p.lateFail(2, t.line, "await expression cannot be used within %s", p.typeCtx)
		}
		s := p.sc
		inComp := false
		for s.kind == scComp {
			inComp = true
			s = s.parent
		}
		switch {
		case s.kind == scFunc && s.async:
		case s.kind == scFunc || s.kind == scLambda:
			if inComp && s.kind == scFunc {
				p.lateFail(3, t.line, "asynchronous comprehension outside of an asynchronous function")
			} else {
				p.lateFail(3, t.line, "'await' outside async function")
			}
		default:
			if inComp {
				p.lateFail(2, t.line, "asynchronous comprehension outside of an asynchronous function")
			} else {
				p.lateFail(2, t.line, "'await' outside function")
			}
		}
		return pexpr{kind: exAwait, line: t.line}
	}
	return p.primary()
}

func (p *pyparser) primary() pexpr {
	e := p.atom()
	for p.err == nil {
		t := p.tok()
		if t.kind != ptOp {
			return e
		}
		switch t.text {
		case ".":
			p.p++
			if !p.isName() {
				p.syntaxErr()
				return e
			}
			n := p.adv()
			e = pexpr{kind: exAttr, line: e.line, name: n.text}
		case "(":
			p.p++
			p.callArgs(true)
			e = pexpr{kind: exCall, line: e.line}
		case "[":
			p.p++
			star := p.slices()
			p.expectOp("]")
			e = pexpr{kind: exSubscript, line: e.line}
			if star {
				e.name = "*"
			}
		default:
			return e
		}
	}
	return e
}

func (p *pyparser) slices() (star bool) {
	for p.err == nil {
		star = p.slice() || star
		if !p.isOp(",") {
			return star
		}
		p.p++
		if p.isOp("]") {
			return star
		}
	}
	return star
}

func (p *pyparser) slice() bool {
	if p.isOp("*") {
		p.p++
		p.bitOr()
		return true
	}
	if !p.isOp(":") {
		p.namedExpression()
		if !p.isOp(":") {
			return false
		}
	}
	// a slice: [lower] ':' [upper] [':' [step]]
	p.p++
	if !p.isOp(":") && !p.isOp("]") && !p.isOp(",") {
		p.expression()
	}
	if p.isOp(":") {
		p.p++
		if !p.isOp("]") && !p.isOp(",") {
			p.expression()
		}
	}
	return false
}

// callArgs parses call arguments after '(' through ')'. Class bases are
// arguments too (a generator expression is not allowed there).
func (p *pyparser) callArgs(genOK bool) {
	n := 0
	kwSeen, dstarSeen := false, false
	kwNames := map[string]bool{}
	for p.err == nil && !p.isOp(")") {
		t := p.tok()
		switch {
		case p.isOp("*"):
			p.p++
			p.expression()
			if dstarSeen {
				p.fail(t.line, "iterable argument unpacking follows keyword argument unpacking")
				return
			}
		case p.isOp("**"):
			p.p++
			p.expression()
			dstarSeen = true
		case t.kind == ptName && p.peek(1).kind == ptOp && p.peek(1).text == "=":
			if pyHardKeywords[t.text] {
				if t.text == "True" || t.text == "False" || t.text == "None" {
					p.fail(t.line, "cannot assign to %s", t.text)
				} else {
					p.fail(t.line, "invalid syntax")
				}
				return
			}
			if t.text == "__debug__" {
				p.fail(t.line, "cannot assign to __debug__")
				return
			}
			if kwNames[t.text] {
				p.fail(t.line, "keyword argument repeated: %s", t.text)
				return
			}
			kwNames[t.text] = true
			p.p += 2
			p.expression()
			kwSeen = true
		default:
			w0 := len(p.walrusLog)
			e := p.namedExpression()
			if p.isKw("for") || p.isKw("async") {
				if !genOK {
					p.fail(e.line, "invalid syntax")
					return
				}
				p.comprehension(w0)
				if n > 0 || !p.isOp(")") {
					p.fail(e.line, "Generator expression must be parenthesized")
					return
				}
				n++
				continue
			}
			if p.isOp("=") {
				if e.kind == exNamed {
					p.fail(e.line, "invalid syntax")
					return
				}
				p.fail(e.line, "expression cannot contain assignment, perhaps you meant \"==\"?")
				return
			}
			if dstarSeen {
				p.fail(e.line, "positional argument follows keyword argument unpacking")
				return
			}
			if kwSeen {
				p.fail(e.line, "positional argument follows keyword argument")
				return
			}
		}
		n++
		if p.err != nil {
			return
		}
		if !p.isOp(",") {
			break
		}
		p.p++
		if p.isKw("for") {
			p.fail(p.tok().line, "Generator expression must be parenthesized")
			return
		}
	}
	if p.err == nil && !p.isOp(")") {
		t := p.tok()
		if t.kind == ptName || t.kind == ptNumber || t.kind == ptString || t.kind == ptFStart {
			p.fail(t.line, "invalid syntax. Perhaps you forgot a comma?")
			return
		}
	}
	p.expectOp(")")
}

// comprehension parses the for/if clauses after an element, in a new scope.
// w0 is where the element's := targets start in walrusLog: an element is
// parsed before the clauses that name the iteration variables.
func (p *pyparser) comprehension(w0 ...int) {
	s := p.push(scComp)
	defer func() {
		if len(w0) > 0 && w0[0] < len(p.walrusLog) {
			for _, n := range p.walrusLog[w0[0]:] {
				if s.compVars[n.text] {
					p.lateFail(2, n.line, "assignment expression cannot rebind comprehension iteration variable '%s'", n.text)
				}
			}
			if outer := p.sc; outer.kind == scClass {
				p.lateFail(2, p.walrusLog[w0[0]].line, "assignment expression within a comprehension cannot be used in a class body")
			}
		}
	}()
	s.compVars = map[string]bool{}
	first := true
	for p.err == nil && (p.isKw("for") || p.isKw("async")) {
		if p.isKw("async") {
			a := p.adv()
			if !p.isKw("for") {
				p.syntaxErr()
				return
			}
			if !p.asyncCompOK() {
				p.lateFail(3, a.line, "asynchronous comprehension outside of an asynchronous function")
			}
		}
		p.p++
		tg := p.starTargets()
		if p.err != nil {
			return
		}
		p.compTarget(tg)
		if !p.isKw("in") {
			p.fail(p.tok().line, "invalid syntax")
			return
		}
		p.p++
		if first {
			s.compIter = true
		}
		p.disjunction()
		s.compIter = false
		first = false
		for p.isKw("if") && p.err == nil {
			p.p++
			p.disjunction()
		}
	}
	p.pop()
}

func (p *pyparser) asyncCompOK() bool {
	s := p.sc
	for s.kind == scComp {
		s = s.parent
	}
	return s.kind == scFunc && s.async
}

func (p *pyparser) compTarget(e pexpr) {
	switch e.kind {
	case exName:
		p.sc.compVars[e.name] = true
		p.target(e, "for", false)
	case exTuple, exList:
		for _, x := range e.elts {
			if x.kind == exStarred {
				p.compTarget(x.elts[0])
				continue
			}
			p.compTarget(x)
		}
		p.target(e, "for", false)
	default:
		p.target(e, "for", false)
	}
}

func (p *pyparser) strings() pexpr {
	t := p.tok()
	bytesSeen, textSeen := false, false
	kind := exLiteral
	for p.err == nil {
		t2 := p.tok()
		switch t2.kind {
		case ptString:
			if t2.bytes {
				bytesSeen = true
			} else {
				textSeen = true
			}
			p.p++
		case ptFStart:
			textSeen = true
			kind = exFString
			p.fstring()
		default:
			if bytesSeen && textSeen {
				p.fail(t.line, "cannot mix bytes and nonbytes literals")
			}
			return pexpr{kind: kind, line: t.line}
		}
	}
	return pexpr{kind: kind, line: t.line}
}

// fstring parses FSTRING_START (middle | field)* FSTRING_END.
func (p *pyparser) fstring() {
	p.p++
	for p.err == nil {
		t := p.tok()
		switch {
		case t.kind == ptFMiddle:
			p.p++
		case t.kind == ptFEnd:
			p.p++
			return
		case t.kind == ptOp && t.text == "{":
			p.field()
		default:
			p.fail(t.line, "f-string: expecting '}'")
			return
		}
	}
}

func (p *pyparser) field() {
	open := p.adv()
	if p.isOp("}") || p.isOp("!") || p.isOp(":") || p.isOp("=") {
		p.fail(open.line, "f-string: valid expression required before '%s'", p.tok().text)
		return
	}
	if p.isKw("lambda") {
		// CPython: a lambda needs parentheses in a replacement field
		save := p.p
		p.lambdaDefProbe()
		if p.err == nil {
			p.p = save
		}
		p.fail(open.line, "f-string: lambda expressions are not allowed without parentheses")
		return
	}
	if p.isKw("yield") {
		p.yieldExpr()
	} else {
		e := p.starExpressions()
		if e.kind == exStarred {
			p.fail(e.line, "can't use starred expression here")
			return
		}
	}
	if p.err != nil {
		return
	}
	if p.isOp("=") {
		p.p++
	}
	if p.isOp("!") {
		bang := p.adv()
		n := p.tok()
		if n.kind != ptName {
			if n.kind == ptOp && (n.text == "}" || n.text == ":") {
				p.fail(bang.line, "f-string: missing conversion character")
			} else {
				p.fail(bang.line, "f-string: invalid conversion character")
			}
			return
		}
		if n.start != bang.end {
			p.fail(bang.line, "f-string: conversion type must come right after the exclamanation mark")
			return
		}
		if n.text != "s" && n.text != "r" && n.text != "a" {
			p.fail(bang.line, "f-string: invalid conversion character '%s': expected 's', 'r', or 'a'", n.text)
			return
		}
		p.p++
	}
	if p.isOp(":") {
		p.p++
		for p.err == nil {
			t := p.tok()
			if t.kind == ptFMiddle {
				p.p++
				continue
			}
			if t.kind == ptOp && t.text == "{" {
				p.field()
				continue
			}
			break
		}
	}
	if !p.isOp("}") {
		if p.err == nil {
			p.fail(p.tok().line, "f-string: expecting '}'")
		}
		return
	}
	p.p++
}

func (p *pyparser) lambdaDefProbe() {}

func (p *pyparser) yieldExpr() pexpr {
	t := p.adv()
	if p.typeCtx != "" {
		p.lateFail(2, t.line, "yield expression cannot be used within %s", p.typeCtx)
	}
	s := p.sc
	switch s.kind {
	case scFunc, scLambda:
		s.generator = true
	case scComp:
		p.lateFail(2, t.line, "'yield' inside list comprehension")
	default:
		p.lateFail(2, t.line, "'yield' outside function")
	}
	if p.isKw("from") {
		p.p++
		if s.async {
			p.lateFail(3, t.line, "'yield from' inside async function")
		}
		p.expression()
	} else if p.startsExpr() {
		p.checkBareStar(p.starExpressions())
	}
	return pexpr{kind: exYield, line: t.line}
}

func (p *pyparser) atom() pexpr {
	t := p.tok()
	switch t.kind {
	case ptName:
		switch t.text {
		case "True", "False", "None":
			p.p++
			return pexpr{kind: exConst, line: t.line, name: t.text}
		}
		if pyHardKeywords[t.text] {
			p.fail(t.line, "invalid syntax")
			return pexpr{}
		}
		p.p++
		p.use(t.text)
		return pexpr{kind: exName, line: t.line, name: t.text}
	case ptNumber:
		p.p++
		return pexpr{kind: exLiteral, line: t.line}
	case ptString, ptFStart:
		return p.strings()
	case ptOp:
		switch t.text {
		case "...":
			p.p++
			return pexpr{kind: exEllipsis, line: t.line}
		case "(":
			return p.parenAtom()
		case "[":
			return p.listAtom()
		case "{":
			return p.dictOrSet()
		}
	case ptIndent:
		p.fail(t.line, "unexpected indent")
		return pexpr{}
	}
	if t.kind == ptNewline || t.kind == ptEnd {
		p.fail(t.line, "invalid syntax")
		return pexpr{}
	}
	p.syntaxErr()
	return pexpr{}
}

func (p *pyparser) parenAtom() pexpr {
	t := p.adv()
	if p.isOp(")") {
		p.p++
		return pexpr{kind: exTuple, line: t.line, parens: true}
	}
	if p.isKw("yield") {
		e := p.yieldExpr()
		p.expectOp(")")
		e.parens = true
		return e
	}
	w0 := len(p.walrusLog)
	first := p.starNamedExpression()
	if p.err != nil {
		return first
	}
	if p.isKw("for") || p.isKw("async") {
		if first.kind == exStarred {
			p.fail(first.line, "iterable unpacking cannot be used in comprehension")
			return first
		}
		p.comprehension(w0)
		p.expectOp(")")
		return pexpr{kind: exGenExp, line: t.line, parens: true}
	}
	if p.isOp(")") {
		p.p++
		if first.kind == exStarred {
			p.fail(first.line, "cannot use starred expression here")
			return first
		}
		first.parens = true
		return first
	}
	if !p.isOp(",") {
		if p.isOp("=") && first.kind == exName {
			p.fail(first.line, "invalid syntax. Maybe you meant '==' or ':=' instead of '='?")
			return first
		}
		p.parenErr()
		return first
	}
	elts := []pexpr{first}
	for p.isOp(",") && p.err == nil {
		p.p++
		if p.isOp(")") {
			break
		}
		elts = append(elts, p.starNamedExpression())
	}
	if p.err == nil && !p.isOp(")") {
		p.parenErr()
		return first
	}
	p.p++
	return pexpr{kind: exTuple, line: t.line, elts: elts, parens: true}
}

func (p *pyparser) parenErr() {
	t := p.tok()
	if t.kind == ptName && !pyHardKeywords[t.text] || t.kind == ptNumber || t.kind == ptString || t.kind == ptFStart {
		p.fail(t.line, "invalid syntax. Perhaps you forgot a comma?")
		return
	}
	p.syntaxErr()
}

func (p *pyparser) listAtom() pexpr {
	t := p.adv()
	if p.isOp("]") {
		p.p++
		return pexpr{kind: exList, line: t.line}
	}
	w0 := len(p.walrusLog)
	first := p.starNamedExpression()
	if p.isKw("for") || p.isKw("async") {
		if first.kind == exStarred {
			p.fail(first.line, "iterable unpacking cannot be used in comprehension")
			return first
		}
		p.comprehension(w0)
		p.expectOp("]")
		return pexpr{kind: exListComp, line: t.line}
	}
	elts := []pexpr{first}
	for p.isOp(",") && p.err == nil {
		p.p++
		if p.isOp("]") {
			break
		}
		elts = append(elts, p.starNamedExpression())
	}
	if p.err == nil && !p.isOp("]") {
		p.parenErr()
		return first
	}
	p.p++
	return pexpr{kind: exList, line: t.line, elts: elts}
}

func (p *pyparser) dictOrSet() pexpr {
	t := p.adv()
	if p.isOp("}") {
		p.p++
		return pexpr{kind: exDict, line: t.line}
	}
	// first item decides
	if p.isOp("**") {
		p.p++
		p.bitOr()
		p.dictRest()
		return pexpr{kind: exDict, line: t.line}
	}
	w0 := len(p.walrusLog)
	first := p.starNamedExpression()
	if p.err != nil {
		return first
	}
	if p.isOp(":") && first.kind != exStarred {
		if first.kind == exNamed && !first.parens {
			p.syntaxErr()
			return first
		}
		p.p++
		p.expression()
		if p.isKw("for") || p.isKw("async") {
			p.comprehension(w0)
			p.expectOp("}")
			return pexpr{kind: exDictComp, line: t.line}
		}
		p.dictRest()
		return pexpr{kind: exDict, line: t.line}
	}
	if p.isKw("for") || p.isKw("async") {
		if first.kind == exStarred {
			p.fail(first.line, "iterable unpacking cannot be used in comprehension")
			return first
		}
		p.comprehension(w0)
		p.expectOp("}")
		return pexpr{kind: exSetComp, line: t.line}
	}
	for p.isOp(",") && p.err == nil {
		p.p++
		if p.isOp("}") {
			break
		}
		p.starNamedExpression()
	}
	if p.err == nil && !p.isOp("}") {
		p.parenErr()
		return first
	}
	p.p++
	return pexpr{kind: exSet, line: t.line}
}

// dictRest parses the remaining `, key: value` / `, **mapping` items and '}'.
func (p *pyparser) dictRest() {
	for p.isOp(",") && p.err == nil {
		p.p++
		if p.isOp("}") {
			break
		}
		if p.isOp("**") {
			p.p++
			p.bitOr()
			continue
		}
		p.expression()
		if !p.expectOp(":") {
			return
		}
		p.expression()
	}
	if p.err == nil && !p.isOp("}") {
		p.parenErr()
		return
	}
	p.p++
}
