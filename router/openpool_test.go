package router_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tributary-dev/tributary/router"
)

// TestOpenPoolRefusesUnnamedDatabase: OpenPool("") — an embedding program
// whose DATABASE_URL is unset — and a URL without a database are errors, not
// a pool on whatever database libpq falls back to.
func TestOpenPoolRefusesUnnamedDatabase(t *testing.T) {
	t.Setenv("PGDATABASE", "")
	for _, url := range []string{"", "postgres://postgres@127.0.0.1:5432", "host=127.0.0.1 user=postgres"} {
		pool, err := router.OpenPool(context.Background(), url)
		if pool != nil {
			pool.Close()
		}
		if !errors.Is(err, router.ErrNoDatabase) {
			t.Errorf("OpenPool(%q) = %v, want ErrNoDatabase", url, err)
		}
		pool, err = router.OpenPoolFor(context.Background(), url)
		if pool != nil {
			pool.Close()
		}
		if !errors.Is(err, router.ErrNoDatabase) {
			t.Errorf("OpenPoolFor(%q) = %v, want ErrNoDatabase", url, err)
		}
	}
}
