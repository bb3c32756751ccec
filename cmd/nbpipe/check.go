package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/nbpipe/nbpipe/convert"
)

const checkUsage = `Usage: nbpipe check [--json] [--config FILE] [--target LIST] [--mode batch|per_cell] [PATH...]

Checks notebooks the way conversion does (kernel, front matter and
metadata.nbpipe, tags, syntax, secrets, duplicate dag_ids) and writes nothing.
PATH is any mix of notebooks and directories (searched recursively, hidden
folders skipped; a directory's .nbpipe.yaml applies unless --config is given);
without PATH it checks the current directory. A .py file is a notebook when
it starts with a Jupytext header and is not the paired copy of a .ipynb that
is also checked, as in a push; other .py files are skipped.

Every finding is one line:
  PATH:cell N:line M: LEVEL: MESSAGE
(":cell N" and ":line M" are left out for findings about the whole notebook or
cell; LEVEL is error, warning or notice). A summary goes to stderr. The exit
status is 1 when any notebook has an error, 0 otherwise, 2 on bad usage.

Flags:
`

// checkReport is nbpipe check's --json document.
type checkReport struct {
	Notebooks int               `json:"notebooks"`
	Failed    int               `json:"failed"`
	Warnings  int               `json:"warnings"`
	Results   []*convert.Result `json:"results"`
}

// runCheck converts every notebook in memory, exactly as convert does, and
// prints the findings; nothing is written.
func runCheck(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("check", flag.ContinueOnError)
	fl.SetOutput(stderr)
	asJSON := fl.Bool("json", false, "print the findings as JSON")
	configFile := fl.String("config", "", "repository config `file` (.nbpipe.yaml) for every PATH")
	targets := fl.String("target", "", "comma-separated targets to check for: airflow, pyfile, ilum_single, ilum_service, ilum_cron")
	mode := fl.String("mode", "", "DAG mode to check for: batch or per_cell")
	quiet := fl.Bool("q", false, "print errors and warnings only, not notices")
	help := helpFlag(fl, checkUsage)
	paths, err := parseInterleaved(fl, args)
	if err != nil {
		return 2
	}
	if *help {
		printUsage(fl, stdout, checkUsage)
		return 0
	}
	serverLayer, forced, err := flagSettings(*targets, *mode, *configFile)
	if err != nil {
		fmt.Fprintln(stderr, "nbpipe check:", err)
		return 2
	}
	if len(paths) == 0 {
		paths = []string{"."}
	}
	var files []notebookFile
	for _, p := range paths {
		found, err := collectPath(p, forced)
		if err != nil {
			fmt.Fprintln(stderr, "nbpipe check:", err)
			return 2
		}
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			// Name notebooks found below a directory by their path from
			// here, so every line points at a file the user can open.
			for i := range found {
				found[i].name = path.Join(filepath.ToSlash(p), found[i].name)
			}
		}
		files = append(files, found...)
	}
	// A .py file is checked when a push would convert it: named ones too, so
	// the pre-commit hook can pass every staged .py file.
	files, skipped := scriptNotebooks(files)
	if !*quiet {
		for _, f := range skipped {
			fmt.Fprintf(stderr, "nbpipe check: %s: skipped: a .py file without a Jupytext header, or the paired copy of a .ipynb checked too\n", f.name)
		}
	}
	results, failed := convertAll(ctx, files, serverLayer)
	warnings := 0
	for _, r := range results {
		r.Files = nil // check writes nothing and reports no outputs
		for _, f := range r.Findings {
			if f.Severity == convert.SevWarning {
				warnings++
			}
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if results == nil {
			results = []*convert.Result{}
		}
		if err := enc.Encode(checkReport{Notebooks: len(results), Failed: failed, Warnings: warnings, Results: results}); err != nil {
			return 1
		}
	} else {
		for _, r := range results {
			for _, f := range r.Findings {
				if *quiet && f.Severity == convert.SevNotice {
					continue
				}
				fmt.Fprintln(stdout, findingLine(r.Notebook, f))
			}
		}
		fmt.Fprintf(stderr, "nbpipe check: %d notebook(s), %d with errors, %d warning(s)\n", len(results), failed, warnings)
	}
	if ctx.Err() != nil {
		return 1
	}
	if failed > 0 {
		return 1
	}
	return 0
}

var findingNewlines = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ")

// helpFlag defines -h and --help on fl, so that asking for help is not a
// parse error: the caller prints the usage to stdout and exits 0. Errors
// still print the usage to stderr.
func helpFlag(fl *flag.FlagSet, usage string) *bool {
	help := fl.Bool("help", false, "print this help and exit")
	fl.BoolVar(help, "h", false, "print this help and exit")
	fl.Usage = func() { printUsage(fl, fl.Output(), usage) }
	return help
}

func printUsage(fl *flag.FlagSet, w io.Writer, usage string) {
	out := fl.Output()
	fl.SetOutput(w)
	fmt.Fprint(w, usage)
	fl.PrintDefaults()
	fl.SetOutput(out)
}

// findingLine is the one-line, grep-able form of a finding:
// PATH:cell N:line M: LEVEL: MESSAGE. The message is kept on one line.
func findingLine(notebook string, f convert.Finding) string {
	var b strings.Builder
	b.WriteString(notebook)
	if f.Cell > 0 {
		fmt.Fprintf(&b, ":cell %d", f.Cell)
		if f.Line > 0 {
			fmt.Fprintf(&b, ":line %d", f.Line)
		}
	}
	msg := findingNewlines.Replace(f.Message)
	fmt.Fprintf(&b, ": %s: %s", f.Severity, msg)
	return b.String()
}
