package main

import (
	"context"
	"errors"
	"strings"

	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/phase"
)

// Exit codes, as documented in --help and the README.
const (
	exitOK          = 0
	exitError       = 1
	exitDifferences = 2 // verify found differences, or plan found blocking problems
	exitWindowEnded = 3 // stopped at the end of --until/--for with work left: rerun to continue
	exitInterrupted = 130
)

// differencesError makes a command exit 2 after it printed its report.
type differencesError struct{ msg string }

func (e *differencesError) Error() string { return e.msg }

// usageErr is a mistake on the command line.
type usageErr struct{ msg string }

func (e *usageErr) Error() string { return e.msg }

func usageError(msg string) error { return &usageErr{msg: msg} }

func exitCode(ctx context.Context, err error) int {
	var diff *differencesError
	var window *phase.WindowEndedError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &diff):
		return exitDifferences
	case errors.As(err, &window):
		return exitWindowEnded
	case ctx.Err() != nil:
		return exitInterrupted
	}
	return exitError
}

// errorMessage is the one line printed for a failed command; it never
// contains a password. An error of several lines (errors.Join, a hint
// added after a newline, a server message with a detail) is joined into
// one, so the error is always the last line of stderr and scripts can take
// it with tail -1.
func errorMessage(ctx context.Context, err error) string {
	if ctx.Err() != nil {
		return "interrupted: everything committed so far is kept; rerun the same command to resume"
	}
	var parts []string
	for _, line := range strings.Split(db.RedactError(err), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			parts = append(parts, line)
		}
	}
	return strings.Join(parts, "; ")
}
