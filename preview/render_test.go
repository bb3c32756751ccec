package preview

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/nbpipe/nbpipe/publish"
)

// hostile are texts a pushed repository controls: notebook paths, dag ids,
// task names, findings.
var hostile = []string{
	"[x](http://evil)", "![i](http://e/i.png)", "`code`", "**b**", "__u__ _e_ *e*", "~~s~~", "# heading",
	"a|b", "<img src=x onerror=alert(1)>", "<http://evil>", "http://evil.example/x", "www.evil.example",
	"mail@evil.example", "@someone", "acme/notebooks#12", "$x^2$", "&lt;b&gt;", "\\[x\\](y)", "1. list",
	"- item", "line one\nline two\r\n## injected heading", "[ref]: http://evil", "<!-- nbpipe-preview -->",
}

func hostilePreview() *Preview {
	p := &Preview{Repo: "acme/notebooks", Base: strings.Repeat("a", 40), Head: strings.Repeat("b", 40), TargetBranch: "main", TargetHead: strings.Repeat("c", 40)}
	for i, s := range hostile {
		n := Notebook{Path: "nb/" + s + ".ipynb", Change: publish.Modified, DagID: "dag " + s, Mode: "per_cell", Schedule: s, Tasks: []string{"t " + s, s},
			Warnings: []string{"warning: " + s}, Files: []FileDiff{{Path: "dags/" + s + ".py", Change: publish.Modified, Added: 3, Removed: 1}}}
		if i%2 == 0 {
			n.Errors = []string{"error: cell 1: " + s}
			n.Files = nil
		}
		p.Notebooks = append(p.Notebooks, n)
	}
	return p
}

// TestRenderEscapesThePushedText: nothing a pull request names becomes a
// link, an image, HTML, a mention, a heading, a list or another table
// cell, and the comment holds no URL at all; only the first line is the
// marker.
func TestRenderEscapesThePushedText(t *testing.T) {
	md := Render(hostilePreview())
	if !strings.HasPrefix(md, Marker+"\n") || strings.Count(md, Marker) != 1 {
		t.Fatalf("the marker must open the comment, once:\n%s", md)
	}
	body := strings.TrimPrefix(md, Marker+"\n")
	// Unescaped: a URL scheme, HTML, a link or image bracket, a mention,
	// an autolinked www. or e-mail, a line the pushed text starts.
	for _, bad := range []string{`(^|[^\\])://`, `(^|[^\\])<`, `(^|[^\\])\]`, `(^|[^\\])@`, `www\.`, `(?m)^## `, `(?m)^- item`, `(?m)^1\. `} {
		if loc := regexp.MustCompile(bad).FindStringIndex(body); loc != nil {
			t.Errorf("the comment holds %s at %q", bad, body[max(0, loc[0]-30):min(len(body), loc[1]+30)])
		}
	}
	for _, s := range hostile {
		if !strings.Contains(body, MarkdownText(s)) {
			t.Errorf("%q is not in the comment as literal text", s)
		}
	}
	// Every table row keeps its three cells.
	for _, line := range strings.Split(body, "\n") {
		if !strings.HasPrefix(line, "| dags/") {
			continue
		}
		if n := strings.Count(strings.ReplaceAll(line, `\|`, ""), "|"); n != 4 {
			t.Errorf("row with %d cell borders: %s", n, line)
		}
	}
}

func TestRenderSummary(t *testing.T) {
	p := &Preview{Head: strings.Repeat("b", 40), TargetBranch: "main", Notebooks: []Notebook{
		{Path: "etl.ipynb", Change: publish.Modified, DagID: "etl", Mode: "per_cell", Schedule: "@hourly", Tasks: []string{"load", "save"},
			Files: []FileDiff{{Path: "team/dags/etl.py", Change: publish.Modified, Added: 4, Removed: 2}}},
		{Path: "new.ipynb", Change: publish.Added, DagID: "new", Mode: "batch", Tasks: []string{"run_notebook"},
			Files: []FileDiff{{Path: "team/dags/new.py", Change: publish.Added, Added: 120}}},
		{Path: "broken.ipynb", Change: publish.Added, Errors: []string{"error: not a notebook"}},
	}}
	md := Render(p)
	for _, want := range []string{
		"### nbpipe preview: 2 notebook(s) would convert, 1 would fail",
		"#### etl\\.ipynb\n\nmodified, would convert. DAG etl (per\\_cell), schedule \\@hourly.",
		"Tasks (2): load, save",
		"| team/dags/etl\\.py | modified | +4 −2 |",
		"| team/dags/new\\.py | added | +120 −0 |",
		"no schedule (manual runs only)",
		"added, **would fail**.",
		"- error\\: not a notebook",
		"(not created yet)",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the comment lacks %q:\n%s", want, md)
		}
	}
	// A preview too large for one comment is cut, with a count.
	big := &Preview{Head: "h", TargetBranch: "main"}
	for i := 0; i < 2000; i++ {
		big.Notebooks = append(big.Notebooks, Notebook{Path: strings.Repeat("x", 40) + strconv.Itoa(i) + ".ipynb", Change: publish.Added, Errors: []string{strings.Repeat("e", 100)}})
	}
	if md := Render(big); len(md) > MaxBody || !strings.Contains(md, "more notebook(s) not shown") {
		t.Fatalf("a large preview: %d bytes", len(md))
	}
}
