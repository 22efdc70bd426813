package main

import (
	"context"
	"errors"

	"github.com/tenantmover/tenantmover/internal/db"
)

// Exit codes, as documented in --help and the README.
const (
	exitOK          = 0
	exitError       = 1
	exitDifferences = 2 // verify found differences, or plan found blocking problems
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
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &diff):
		return exitDifferences
	case ctx.Err() != nil:
		return exitInterrupted
	}
	return exitError
}

// errorMessage is the one line printed for a failed command; it never
// contains a password.
func errorMessage(ctx context.Context, err error) string {
	if ctx.Err() != nil {
		return "interrupted: everything committed so far is kept; rerun the same command to resume"
	}
	return db.RedactError(err)
}
