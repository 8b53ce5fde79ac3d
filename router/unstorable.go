package router

import (
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/nats-io/nats.go"
)

// unstorable is why a backend refuses an event for good: what its content
// is, not the state of the database, so storing it again can never succeed.
type unstorable struct {
	// Reason is for operators and senders: what is wrong with the event,
	// then the database's own message.
	Reason string
	// SQLState is Postgres's error code ("" for another backend's refusal).
	SQLState string
}

// unstorableCodes are the SQLSTATEs that an event's content causes; every
// other error (a database that is down, a lock timeout, a missing table,
// an out-of-memory server, a statement cancelled) is transient: the source
// hands the event on again later.
var unstorableCodes = map[string]string{
	"54000": "a value is over a database limit (e.g. an indexed field over the index row size)",
	"22P05": "a value cannot be stored as text (e.g. a NUL character)",
	"22021": "a value is not valid text (e.g. a NUL character or invalid UTF-8)",
	"22P02": "a value is not valid JSON",
	"22032": "a value is not valid JSON",
	"22030": "a value is not valid JSON (duplicate key)",
	"22001": "a value is too long",
}

// classifyUnstorable says whether err is a refusal of the event's content
// (and why), as opposed to a failure that may pass.
func classifyUnstorable(err error) (unstorable, bool) {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		what, ok := unstorableCodes[pgErr.Code]
		if !ok {
			return unstorable{}, false
		}
		return unstorable{Reason: what + ": " + printable(pgErr.Message, 300), SQLState: pgErr.Code}, true
	}
	if errors.Is(err, nats.ErrMaxPayload) {
		return unstorable{Reason: "the event is over the NATS server's max_payload"}, true
	}
	return unstorable{}, false
}

// isUnstorable reports whether err refuses an event's content for good.
func isUnstorable(err error) bool {
	_, ok := classifyUnstorable(err)
	return ok
}

// printable is s as text any column and terminal takes: invalid UTF-8
// and control characters (NUL among them) replaced, at most max bytes.
func printable(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '\uFFFD'
		}
		return r
	}, s)
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}
