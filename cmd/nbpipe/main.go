// Command nbpipe turns Jupyter notebooks into Airflow DAGs and Spark jobs.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `nbpipe turns Jupyter notebooks into Airflow 3 DAGs, Spark job files and Ilum services.

Usage:
  nbpipe convert [--out DIR] [--target LIST] [--mode batch|per_cell] [--json] [--config FILE] [PATH...]
      Convert notebooks (files or directories, recursively). Without PATH it converts
      the bundled example notebooks.
  nbpipe check [--json] [--config FILE] [-q] [PATH...]
      Check notebooks as convert would, writing nothing: one finding per line,
      PATH:cell N:line M: LEVEL: MESSAGE; exit 1 when a notebook has an error.
  nbpipe export NOTEBOOK [--dag-id ID] [--schedule S] [--mode M] [--trigger] [--targets LIST] [--push]
      Write the settings into the notebook's metadata.nbpipe, check it, commit only the
      notebook on the current branch and, with --push, push it (JupyterLab's export dialog).
  nbpipe demo [--dir DIR] [--listen ADDR]
      Watch nbpipe serve do its job, with nothing to install but git: a local source
      repository whose hook delivers signed pushes, the bundled notebooks pushed there,
      and the DAG commit it makes, printed; then push your own edits (Ctrl-C stops it).
  nbpipe serve [--config FILE] [--listen ADDR] [--gitea-secret S] [--target-url URL] ...
      Receive GitHub and Gitea push webhooks and publish DAGs to the target repository.
      Without any configuration it runs the embedded default on 127.0.0.1:8080.
      See nbpipe serve --help for every setting (flags > NBPIPE_* env > config file).
  nbpipe action
      The GitHub/Gitea Actions entrypoint (see action.yml): converts and publishes the
      notebooks of the push that triggered the workflow.
  nbpipe spool [--state-dir DIR] list|retry|drop [KEY...]
      List, replay or drop the pushes nbpipe serve gave up on (dead letters).
  nbpipe version
`

const actionUsage = `Usage: nbpipe action

The GitHub/Gitea Actions entrypoint (see action.yml). It takes no flags: the
inputs come from the runner's environment (INPUT_TARGET-URL, INPUT_TARGET-TOKEN,
..., GITHUB_EVENT_PATH), it converts and publishes the notebooks of the push
that triggered the workflow, and writes the outputs and the step summary.
`

// wantsHelp reports whether a command without flags of its own was asked for help.
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "-h", "-help", "--help", "help":
			return true
		}
	}
	return false
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "convert":
		return runConvert(ctx, args[1:], stdout, stderr)
	case "check":
		return runCheck(ctx, args[1:], stdout, stderr)
	case "export":
		return runExport(ctx, args[1:], stdout, stderr)
	case "serve":
		return runServe(ctx, args[1:], stdout, stderr)
	case "demo":
		return runDemo(ctx, args[1:], stdout, stderr)
	case "action":
		if wantsHelp(args[1:]) {
			fmt.Fprint(stdout, actionUsage)
			return 0
		}
		return runAction(ctx, stdout, stderr)
	case "spool":
		return runSpool(args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "nbpipe", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "nbpipe: unknown command %q\n\n%s", args[0], usage)
	return 2
}
