// Command tributary runs declarative event pipelines from a file and gives
// operators the tools around them. See docs/cli.md.
package main

import (
	"context"
	"os"

	"github.com/tributary-dev/tributary/cli"
	// Source and sink types register themselves in components' init functions.
	_ "github.com/tributary-dev/tributary/components"
)

func main() {
	os.Exit(cli.Execute(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}
