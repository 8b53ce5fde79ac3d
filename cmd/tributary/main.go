// Command tributary runs declarative event pipelines from a file and gives
// operators the tools around them. See docs/cli.md. It is cli.Main with the
// built-in source and sink types (package components); docs/embedding.md
// shows a binary of your own with types of your own.
package main

import "github.com/tributary-dev/tributary/cli"

func main() { cli.Main() }
