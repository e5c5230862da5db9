// Command bindery is the Bindery server, worker and command-line client.
package main

import (
	"os"

	"github.com/bindery/bindery/pkg/cli"
)

func main() {
	os.Exit(cli.Main(cli.OSEnv(), os.Args[1:]))
}
