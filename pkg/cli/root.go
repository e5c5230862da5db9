// Package cli builds the bindery command tree. Commands are built by functions
// that take their I/O, so tests can run them in-process.
package cli

import (
	"io"
	"os"

	"github.com/spf13/cobra"
)

// Env is what a command may touch of the outside world.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
}

// OSEnv is the process's real environment.
func OSEnv() *Env {
	return &Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
}

// NewRootCmd returns the bindery command with every subcommand attached.
func NewRootCmd(env *Env) *cobra.Command {
	root := &cobra.Command{
		Use:           "bindery",
		Short:         "Background jobs for library catalogs",
		Long:          "Bindery runs batch jobs (import, publishing, normalization, fulfillment housekeeping)\nover library catalogs, for many institutions at once.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(env.Stdin)
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	root.AddCommand(newServerCmd(env), newWorkerCmd(env), newMigrateCmd(env), newTokenCmd(env),
		newJobCmd(env), newScheduleCmd(env), newEventCmd(env), newProfileCmd(env), newSeedCmd(env), newMarcCmd(env))
	root.AddCommand(newSetCmd(env))
	root.AddCommand(newCapacityCmd(env))
	return root
}

// Main runs the command line and returns the process exit status.
func Main(env *Env, args []string) int {
	root := NewRootCmd(env)
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		var ec exitCoder
		if asExitCoder(err, &ec) {
			if msg := err.Error(); msg != "" {
				_, _ = io.WriteString(env.Stderr, "bindery: "+msg+"\n")
			}
			return ec.ExitCode()
		}
		_, _ = io.WriteString(env.Stderr, "bindery: "+err.Error()+"\n")
		return 2
	}
	return 0
}
