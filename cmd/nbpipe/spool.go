package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/nbpipe/nbpipe/internal/redact"
	"github.com/nbpipe/nbpipe/webhook"
)

const spoolUsage = `Usage: nbpipe spool [--state-dir DIR] [--json] list [--pending]
       nbpipe spool [--state-dir DIR] retry KEY...
       nbpipe spool [--state-dir DIR] drop KEY...

Operates on the spool of a (running or stopped) nbpipe serve:
  list    the dead letters: pushes given up after max_attempts, with the
          last error (--pending lists the queue instead)
  retry   puts dead letters back in the queue with a fresh retry budget
          (a running server picks them up within its next wake-up)
  drop    retires dead letters for good; a redelivery stays a duplicate
The state directory defaults to $NBPIPE_STATE_DIR.
`

// runSpool is the operator's view of the dead letters.
func runSpool(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("spool", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Usage = func() { fmt.Fprint(stderr, spoolUsage) }
	state := fl.String("state-dir", os.Getenv("NBPIPE_STATE_DIR"), "nbpipe serve's state directory")
	asJSON := fl.Bool("json", false, "print JSON lines")
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, spoolUsage)
			return 0
		}
		return 2
	}
	rest := fl.Args()
	if len(rest) == 0 || *state == "" {
		fmt.Fprint(stderr, spoolUsage)
		return 2
	}
	dir := filepath.Join(*state, "spool")
	if _, err := os.Stat(dir); err != nil {
		fmt.Fprintf(stderr, "nbpipe spool: no spool in %s: %v\n", *state, err)
		return 1
	}
	sp, err := webhook.OpenSpool(dir)
	if err != nil {
		fmt.Fprintln(stderr, "nbpipe spool:", err)
		return 1
	}
	switch cmd, keys := rest[0], rest[1:]; cmd {
	case "list":
		pending := len(keys) == 1 && keys[0] == "--pending"
		list := sp.DeadEntries
		if pending {
			list = sp.Entries
		}
		entries, err := list()
		if err != nil {
			fmt.Fprintln(stderr, "nbpipe spool:", err)
			return 1
		}
		printEntries(stdout, entries, *asJSON)
		return 0
	case "retry", "drop":
		if len(keys) == 0 {
			fmt.Fprintf(stderr, "nbpipe spool %s: name at least one KEY (see nbpipe spool list)\n", cmd)
			return 2
		}
		op := sp.Revive
		if cmd == "drop" {
			op = sp.Drop
		}
		status := 0
		for _, k := range keys {
			if err := op(k); err != nil {
				fmt.Fprintf(stderr, "nbpipe spool %s: %v\n", cmd, err)
				status = 1
				continue
			}
			fmt.Fprintf(stdout, "%s: %s\n", cmd, k)
		}
		return status
	default:
		fmt.Fprintf(stderr, "nbpipe spool: unknown command %q\n\n%s", cmd, spoolUsage)
		return 2
	}
}

func printEntries(w io.Writer, entries []webhook.Entry, asJSON bool) {
	if asJSON {
		enc := json.NewEncoder(w)
		for _, e := range entries {
			_ = enc.Encode(map[string]any{"key": e.Key, "accepted": e.Accepted, "attempts": e.Attempts,
				"last_error": redact.Text(e.LastError), "forge": e.Event.Forge, "repo": e.Event.Repo,
				"ref": e.Event.Ref, "after": e.Event.After, "delivery": e.Event.DeliveryID})
		}
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tACCEPTED\tREPO\tREF\tAFTER\tATTEMPTS\tLAST ERROR")
	for _, e := range entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.12s\t%d\t%s\n", e.Key, e.Accepted.Format(time.RFC3339), e.Event.Repo,
			e.Event.Ref, e.Event.After, e.Attempts, oneLine(redact.Text(e.LastError)))
	}
	_ = tw.Flush()
}

func oneLine(s string) string {
	if len(s) > 160 {
		s = s[:160] + "..."
	}
	out := []rune{}
	for _, r := range s {
		if r < ' ' {
			r = ' '
		}
		out = append(out, r)
	}
	return string(out)
}
