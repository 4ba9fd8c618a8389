// Command vigil is the Vigil API security platform: one binary for the
// gateway, sidecar and control-plane placements. See README.md.
package main

import (
	"os"

	"github.com/vigil-sec/vigil/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
