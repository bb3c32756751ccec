package main

import (
	"context"
	"io"
	"os"

	"github.com/sethvargo/go-githubactions"

	"github.com/nbpipe/nbpipe/action"
)

// runAction is the entrypoint of the container action (action.yml).
func runAction(ctx context.Context, stdout, stderr io.Writer) int {
	a := githubactions.New(githubactions.WithWriter(stdout))
	if err := action.Run(ctx, a, os.Getenv, newLogger("text", stderr)); err != nil {
		a.Errorf("%v", err)
		return 1
	}
	return 0
}
