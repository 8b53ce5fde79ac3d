package archtest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// ownedTables are the tables package store owns: their SQL lives there and
// nowhere else (outside tests, which may set up rows as they like).
var ownedTables = map[string]bool{
	"tributary_messages": true, "tributary_consumers": true, "tributary_claims": true,
	"tributary_dedup": true, "tributary_dedup_hits": true, "tributary_poison": true,
	"tributary_delivery_attempts": true, "tributary_resends": true, "tributary_endpoints": true,
	"tributary_leases": true, "tributary_instances": true, "tributary_ingest_quarantine": true,
}

// schemaExceptions are the files still allowed to write SQL on an owned
// table, each with why. Shrink it; do not grow it.
var schemaExceptions = map[string]string{
	// The Postgres topic consumers' claim, completion, lane and prune
	// statements and the publisher's append: the hot path, tuned where the
	// consumer's mechanism is described.
	"router/pgtopic/": "hot path",
	// The ingest statement (dedup keys and messages in one statement).
	"router/backend_postgres.go": "hot path",
}

var sqlOnTable = regexp.MustCompile(`(?i)\b(?:FROM|INTO|UPDATE|JOIN|TABLE)\s+(tributary_[a-z_]+)\b`)

// schemaUses lists, for every non-test Go file below root, the owned
// tables its string literals run SQL on ("file: table").
func schemaUses(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case "node_modules", "testdata", ".git":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		seen := map[string]bool{}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil {
				return true
			}
			for _, m := range sqlOnTable.FindAllStringSubmatch(s, -1) {
				if table := strings.ToLower(m[1]); ownedTables[table] && !seen[table] {
					seen[table] = true
					out = append(out, rel+": "+table)
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func exempt(use string) bool {
	file, _, _ := strings.Cut(use, ": ")
	for prefix := range schemaExceptions {
		if file == prefix || strings.HasSuffix(prefix, "/") && strings.HasPrefix(file, prefix) {
			return true
		}
	}
	return false
}

// TestOneOwnerPerTable: no package but store (and the exceptions listed,
// each with its reason) writes SQL on the tables store owns; a new query
// belongs in store, beside its table's others.
func TestOneOwnerPerTable(t *testing.T) {
	uses := schemaUses(t, "../..")
	var inStore, exempted int
	for _, u := range uses {
		switch {
		case strings.HasPrefix(u, "store/"):
			inStore++
		case exempt(u):
			exempted++
		default:
			t.Errorf("%s: SQL on a table package store owns; add a function there and call it", u)
		}
	}
	// The scan must see something, or it would pass vacuously.
	if inStore < len(ownedTables)-1 || exempted == 0 {
		t.Fatalf("the scan found SQL on %d owned tables in store and %d uses in the exceptions; it is not reading the tree", inStore, exempted)
	}
}

// TestSchemaScanFindsRawSQL: the scan reports a statement in any of the
// forms the module writes (a raw string, an interpreted one, a table named
// after a concatenation).
func TestSchemaScanFindsRawSQL(t *testing.T) {
	dir := t.TempDir()
	src := "package x\n\nconst cols = `id`\n\nvar (\n" +
		"\ta = `SELECT ` + cols + ` FROM tributary_poison WHERE id = $1`\n" +
		"\tb = \"insert into tributary_dedup (pipeline) values ($1)\"\n" +
		"\tc = `UPDATE tributary_leases SET owner = ''`\n" +
		"\td = `SELECT 1 FROM tributary_checkpoints`\n" +
		"\te = \"tributary_messages\"\n)\n"
	if err := writeFile(filepath.Join(dir, "x", "x.go"), src); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(schemaUses(t, dir), "; ")
	want := "x/x.go: tributary_dedup; x/x.go: tributary_leases; x/x.go: tributary_poison"
	if got != want {
		t.Fatalf("found %q, want %q", got, want)
	}
}

func writeFile(path, content string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(content), 0o644)
}
