package cli

import "errors"

// exitCoder is an error that carries the process exit status to use.
type exitCoder interface {
	error
	ExitCode() int
}

// ExitError ends the command with Code; Msg (may be empty) goes to stderr.
type ExitError struct {
	Code int
	Msg  string
}

func (e *ExitError) Error() string { return e.Msg }
func (e *ExitError) ExitCode() int { return e.Code }

func asExitCoder(err error, target *exitCoder) bool { return errors.As(err, target) }
