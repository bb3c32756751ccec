package preview

import (
	"fmt"
	"strings"
)

// MaxBody bounds a rendered comment: GitHub refuses bodies over 65,536
// characters. Notebooks past it are counted, not listed.
const MaxBody = 60000

// maxItems bounds the warnings or errors listed for one notebook.
const maxItems = 20

// Render is the preview as the body of the pull request comment: the
// marker, a summary line, and per notebook its DAG, tasks, schedule,
// warnings, errors and the generated files it would add, change or remove
// in the target branch with their line counts. It holds no links or URLs;
// every text from the pushed repository (paths, ids, task names, findings)
// goes through MarkdownText.
func Render(p *Preview) string {
	var b strings.Builder
	b.WriteString(Marker + "\n")
	ok := len(p.Notebooks) - p.Failed()
	fmt.Fprintf(&b, "### nbpipe preview: %d notebook(s) would convert, %d would fail\n\n", ok, p.Failed())
	target := "branch " + MarkdownText(p.TargetBranch)
	if p.TargetHead != "" {
		target += " at " + MarkdownText(short(p.TargetHead))
	} else {
		target += " (not created yet)"
	}
	fmt.Fprintf(&b, "Head %s compared with the dags repository's %s. Nothing is published until the changes reach the branch nbpipe publishes from.\n\n",
		MarkdownText(short(p.Head)), target)
	if p.ConfigError != "" {
		fmt.Fprintf(&b, "**.nbpipe.yaml does not parse**: %s\n\n", MarkdownText(p.ConfigError))
	}
	if len(p.Notebooks) == 0 {
		b.WriteString("No notebook changed.\n")
		return b.String()
	}
	for i, nb := range p.Notebooks {
		section := renderNotebook(nb)
		if b.Len()+len(section) > MaxBody-200 {
			fmt.Fprintf(&b, "\n%d more notebook(s) not shown: the comment would be too long.\n", len(p.Notebooks)-i)
			break
		}
		b.WriteString(section)
	}
	return b.String()
}

func renderNotebook(nb Notebook) string {
	var b strings.Builder
	status := "would convert"
	if len(nb.Errors) > 0 {
		status = "**would fail**"
	}
	if nb.Change == "removed" {
		status = "removed"
	}
	fmt.Fprintf(&b, "#### %s\n\n%s, %s.", MarkdownText(nb.Path), MarkdownText(string(nb.Change)), status)
	if nb.DagID != "" {
		fmt.Fprintf(&b, " DAG %s", MarkdownText(nb.DagID))
		if nb.Mode != "" {
			fmt.Fprintf(&b, " (%s)", MarkdownText(nb.Mode))
		}
		if len(nb.Errors) == 0 {
			if nb.Schedule != "" {
				fmt.Fprintf(&b, ", schedule %s", MarkdownText(nb.Schedule))
			} else {
				b.WriteString(", no schedule (manual runs only)")
			}
		}
		b.WriteString(".")
	}
	b.WriteString("\n\n")
	if len(nb.Errors) == 0 && len(nb.Tasks) > 0 {
		names := make([]string, len(nb.Tasks))
		for i, t := range nb.Tasks {
			names[i] = MarkdownText(t)
		}
		fmt.Fprintf(&b, "Tasks (%d): %s\n\n", len(nb.Tasks), strings.Join(names, ", "))
	}
	list(&b, "Errors", nb.Errors)
	list(&b, "Warnings", nb.Warnings)
	if len(nb.Files) > 0 {
		b.WriteString("| generated file | change | lines |\n|---|---|---|\n")
		for _, f := range nb.Files {
			fmt.Fprintf(&b, "| %s | %s | +%d −%d |\n", MarkdownText(f.Path), MarkdownText(string(f.Change)), f.Added, f.Removed)
		}
		b.WriteString("\n")
	} else if len(nb.Errors) == 0 {
		b.WriteString("No generated file would change.\n\n")
	} else {
		b.WriteString("Its outputs in the target stay as they are.\n\n")
	}
	return b.String()
}

func list(b *strings.Builder, title string, items []string) {
	if len(items) == 0 {
		return
	}
	fmt.Fprintf(b, "%s:\n", title)
	for i, it := range items {
		if i == maxItems {
			fmt.Fprintf(b, "- and %d more\n", len(items)-maxItems)
			break
		}
		fmt.Fprintf(b, "- %s\n", MarkdownText(it))
	}
	b.WriteString("\n")
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}
