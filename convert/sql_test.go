package convert

import (
	"reflect"
	"strings"
	"testing"
)

func TestSplitSQL(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []string
	}{
		{"one statement", "SELECT 1", []string{"SELECT 1"}},
		{"trailing semicolon", "SELECT 1;", []string{"SELECT 1"}},
		{"two statements", "SELECT 1;\nSELECT 2;\n", []string{"SELECT 1", "SELECT 2"}},
		{"empty statements dropped", ";; SELECT 1 ;;\n;", []string{"SELECT 1"}},
		{"whitespace trimmed", "\n\n   SELECT *\n   FROM t   \n\n", []string{"SELECT *\n   FROM t"}},
		{"semicolon in single quotes", "SELECT 'a;b' AS x; SELECT 2", []string{"SELECT 'a;b' AS x", "SELECT 2"}},
		{"semicolon in double quotes", `SELECT "a;b"; SELECT 2`, []string{`SELECT "a;b"`, "SELECT 2"}},
		{"semicolon in backticks", "SELECT `we;ird` FROM t; SELECT 2", []string{"SELECT `we;ird` FROM t", "SELECT 2"}},
		{"escaped quote in a string", `SELECT 'it\'s; fine'; SELECT 2`, []string{`SELECT 'it\'s; fine'`, "SELECT 2"}},
		{"doubled quote in a string", "SELECT 'it''s; fine'; SELECT 2", []string{"SELECT 'it''s; fine'", "SELECT 2"}},
		{"semicolon in a line comment", "SELECT 1 -- not; a split\n; SELECT 2", []string{"SELECT 1 -- not; a split", "SELECT 2"}},
		{"line comment at the end", "SELECT 1 -- trailing; comment", []string{"SELECT 1 -- trailing; comment"}},
		{"semicolon in a block comment", "SELECT /* a; b */ 1; SELECT 2", []string{"SELECT /* a; b */ 1", "SELECT 2"}},
		{"unterminated block comment", "SELECT 1 /* open; comment", []string{"SELECT 1 /* open; comment"}},
		{"quote inside a comment", "SELECT 1 -- don't split\n; SELECT 2", []string{"SELECT 1 -- don't split", "SELECT 2"}},
		{"comment-only statement dropped", "SELECT 1;\n-- just a note\n", []string{"SELECT 1"}},
		{"comment-only lines between statements", "-- header\nSELECT 1;\n-- a\n-- b\n;SELECT 2", []string{"-- header\nSELECT 1", "SELECT 2"}},
		{"dash not a comment", "SELECT 5-3; SELECT 2", []string{"SELECT 5-3", "SELECT 2"}},
		{"empty body", "", nil},
		{"only whitespace and semicolons", " ;\n ; ", nil},
		{"only comments", "-- a\n-- b; c\n", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := splitSQL(tc.body)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("splitSQL(%q) = %q, want %q", tc.body, got, tc.want)
			}
		})
	}
}

// A statement made only of a block comment is not a statement: Spark's parser
// rejects spark.sql("/* ... */"), and with -o the variable would get its
// result instead of the query's.
func TestSplitSQLBlockCommentOnly(t *testing.T) {
	for _, body := range []string{
		"SELECT 1; /* trailing comment */",
		"SELECT 1;\n/* a\n   b */\n",
		"/* header */;\nSELECT 1",
	} {
		t.Run(body, func(t *testing.T) {
			if got := splitSQL(body); !reflect.DeepEqual(got, []string{"SELECT 1"}) {
				t.Errorf("splitSQL(%q) = %q, want [\"SELECT 1\"]", body, got)
			}
		})
	}
}

func TestSQLCell(t *testing.T) {
	type finding struct {
		sev  Severity
		code string
		line int
		msg  string // substring
	}
	tests := []struct {
		name     string
		args     string
		body     string
		wantCode string
		wantOK   bool
		findings []finding
	}{
		{"plain", "", "SELECT * FROM t", "spark.sql(\"SELECT * FROM t\")\n", true, nil},
		{"output variable binds the last statement", "-o df", "CREATE TEMP VIEW v AS SELECT 1;\nSELECT * FROM v",
			"spark.sql(\"CREATE TEMP VIEW v AS SELECT 1\")\ndf = spark.sql(\"SELECT * FROM v\")\n", true, nil},
		{"long output option", "--output result", "SELECT 1", "result = spark.sql(\"SELECT 1\")\n", true, nil},
		{"quiet", "-q", "SELECT 1", "spark.sql(\"SELECT 1\")\n", true, nil},
		{"display options ignored silently", "-q -n 10 -m sample -r 0.5 -c sql -s sess", "SELECT 1", "spark.sql(\"SELECT 1\")\n", true, nil},
		{"long display options", "--maxrows 5 --samplemethod take", "SELECT 1", "spark.sql(\"SELECT 1\")\n", true, nil},
		{"multi-line statement is a triple-quoted literal", "", "SELECT a,\n       b\nFROM t",
			"spark.sql('''SELECT a,\n       b\nFROM t''')\n", true, nil},
		{"single quotes in SQL pick double quotes", "", "SELECT 'x'", "spark.sql(\"SELECT 'x'\")\n", true, nil},
		{"double quotes in SQL pick single quotes", "", `SELECT "x"`, "spark.sql('SELECT \"x\"')\n", true, nil},
		{"bad output name", "-o 1df", "SELECT 1", "", false, []finding{{SevError, CodeSQL, 4, `-o "1df": not a valid Python name`}}},
		{"keyword output name", "-o class", "SELECT 1", "", false, []finding{{SevError, CodeSQL, 4, `-o "class": not a valid Python name`}}},
		{"dotted output name", "-o a.b", "SELECT 1", "", false, []finding{{SevError, CodeSQL, 4, "not a valid Python name"}}},
		{"missing output name", "-o", "SELECT 1", "", false, []finding{{SevError, CodeSQL, 4, "-o needs a variable name"}}},
		{"unknown argument warned", "--bogus", "SELECT 1", "spark.sql(\"SELECT 1\")\n", true, []finding{{SevWarning, CodeSQL, 4, `argument "--bogus" ignored`}}},
		{"empty cell", "", "  \n", "", true, []finding{{SevNotice, CodeEmpty, 0, "empty %%sql cell skipped"}}},
		{"comments only", "-o df", "-- nothing here\n;", "", true, []finding{{SevNotice, CodeEmpty, 0, "empty %%sql cell skipped"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &reporter{}
			code, ok := sqlCell(tc.args, tc.body, 7, 5, r)
			if code != tc.wantCode || ok != tc.wantOK {
				t.Errorf("sqlCell(%q, %q) = %q, %v; want %q, %v", tc.args, tc.body, code, ok, tc.wantCode, tc.wantOK)
			}
			if len(r.findings) != len(tc.findings) {
				t.Fatalf("findings = %v, want %d", r.findings, len(tc.findings))
			}
			for i, w := range tc.findings {
				f := r.findings[i]
				if f.Severity != w.sev || f.Code != w.code || f.Cell != 7 || f.Line != w.line || !strings.Contains(f.Message, w.msg) {
					t.Errorf("finding %d = %+v, want %+v in cell 7", i, f, w)
				}
			}
		})
	}
}

func TestSQLCellLiteralRoundTrip(t *testing.T) {
	for _, stmt := range []string{
		`SELECT 'a', "b"`,
		"SELECT '''x'''",
		"SELECT 1\nFROM t WHERE s = 'it''s'",
		"SELECT '\\n'\n",
		"SELECT 'é'\n, 2",
	} {
		t.Run(stmt, func(t *testing.T) {
			lit := pySQL(strings.TrimSpace(stmt))
			got, err := decodePyString(lit)
			if err != nil || got != strings.TrimSpace(stmt) {
				t.Errorf("pySQL(%q) = %s decodes to %q, %v", stmt, lit, got, err)
			}
		})
	}
}

// TestSQLChecksRun: a query that calls assert_true or raise_error is run to
// the end (its display ran it in the notebook); other queries and bound ones
// stay lazy spark.sql() calls.
func TestSQLChecksRun(t *testing.T) {
	const noop = `.write.format("noop").mode("overwrite").save()`
	for _, tc := range []struct {
		name, args, body string
		forced           bool
	}{
		{"check", "", "SELECT assert_true(count(*) > 0) FROM t", true},
		{"check after a comment", "", "-- the rows are there\nSELECT ASSERT_TRUE (n > 0) FROM t", true},
		{"raise_error in a CTE", "", "WITH x AS (SELECT * FROM t) SELECT IF(count(*) = 0, raise_error('empty'), 1) FROM x", true},
		{"plain query", "", "SELECT * FROM t", false},
		{"bound to -o", "-o df", "SELECT assert_true(n > 0) FROM t", false},
		{"DML is eager anyway", "", "INSERT INTO t SELECT assert_true(true)", false},
		{"the word in a comment only", "", "SELECT 1 -- assert_true(x) later", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &reporter{}
			code, ok := sqlCell(tc.args, tc.body, 1, 2, r)
			if !ok {
				t.Fatal(r.findings)
			}
			if got := strings.Contains(code, noop); got != tc.forced {
				t.Errorf("forced = %v, want %v:\n%s", got, tc.forced, code)
			}
			if err := checkPython(code); err != nil {
				t.Errorf("generated code: %v\n%s", err, code)
			}
		})
	}
}
