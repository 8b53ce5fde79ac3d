package cli

import (
	"github.com/spf13/cobra"

	"github.com/tributary-dev/tributary/components"
)

// typesCommand lists the source and sink types this binary knows, so that a
// pipeline file's author need not read the source.
func (a *app) typesCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "types",
		Short: "List the source and sink types a pipeline file can name",
		Args:  cobra.NoArgs,
		RunE: wrap(func(*cobra.Command, []string) error {
			type row struct {
				Kind        string `json:"kind"`
				Type        string `json:"type"`
				Description string `json:"description"`
			}
			var rows []row
			for _, kind := range []components.Kind{components.KindSource, components.KindSink} {
				for _, name := range components.Types(kind) {
					rows = append(rows, row{string(kind), name, components.Doc(kind, name)})
				}
			}
			return printRows(a.stdout, a.json, rows, []string{"KIND", "TYPE", "DESCRIPTION"}, func(r row) []string {
				return []string{r.Kind, r.Type, r.Description}
			})
		}),
	}
}
