// Package pgurl checks that a PostgreSQL connection string names its
// database. Without one, libpq's rules (which pgx follows) fall back to the
// database named after the user, and an embedding program whose DATABASE_URL
// was unset would open, and migrate, a database nobody chose.
package pgurl

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
)

// ErrNoDatabase is returned (wrapped) for a connection string that names no
// database.
var ErrNoDatabase = errors.New("no database named")

// Check returns an error wrapping ErrNoDatabase when connString names no
// database — neither in a URL's path, nor as dbname (in a URL's query or as
// a keyword/value pair), nor through PGDATABASE — and nil otherwise. A string
// it cannot read is left to the driver's parser to report.
func Check(connString string) error {
	if namesDatabase(connString) {
		return nil
	}
	if strings.TrimSpace(connString) == "" {
		return fmt.Errorf("%w: the connection string is empty (is DATABASE_URL set?); want postgres://USER@HOST:PORT/DATABASE", ErrNoDatabase)
	}
	return fmt.Errorf("%w: the connection string names no database; want postgres://USER@HOST:PORT/DATABASE or dbname=…", ErrNoDatabase)
}

func namesDatabase(s string) bool {
	if os.Getenv("PGDATABASE") != "" {
		return true
	}
	if strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://") {
		u, err := url.Parse(s)
		if err != nil {
			return true // the driver's parser reports it
		}
		return strings.Trim(u.Path, "/") != "" || u.Query().Get("dbname") != ""
	}
	for _, f := range strings.Fields(s) {
		if v, ok := strings.CutPrefix(f, "dbname="); ok && strings.Trim(v, `'`) != "" {
			return true
		}
	}
	return false
}
