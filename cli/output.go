package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"
)

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table writes aligned columns.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)}
	t.row(header...)
	return t
}

func (t *table) row(cols ...string) {
	for i, c := range cols {
		cols[i] = strings.NewReplacer("\t", " ", "\n", " ").Replace(c)
	}
	fmt.Fprintln(t.tw, strings.Join(cols, "\t"))
}

func (t *table) flush() error { return t.tw.Flush() }

// printRows prints rows as a JSON list or as a table with cols for each row.
func printRows[T any](w io.Writer, asJSON bool, rows []T, header []string, cols func(T) []string) error {
	if asJSON {
		return printJSON(w, orEmpty(rows))
	}
	return printTable(w, rows, header, cols)
}

// orEmpty is s, or an empty list for nil: a JSON list is never null, so
// that scripts can iterate without a check.
func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// printTable writes rows as a table, cols giving each row's columns.
func printTable[T any](w io.Writer, rows []T, header []string, cols func(T) []string) error {
	t := newTable(w, header...)
	for _, r := range rows {
		t.row(cols(r)...)
	}
	return t.flush()
}

func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

// progress draws a one-line status on stderr when it is a terminal and stays
// silent otherwise, so that scripts get clean output.
type progress struct {
	w       io.Writer
	enabled bool
	last    time.Time
	spin    int
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.enabled = true
		}
	}
	return p
}

var spinner = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

// step shows "label done/total" (total 0: a spinner), at most every 80 ms.
func (p *progress) step(label string, done, total int) {
	if !p.enabled || (time.Since(p.last) < 80*time.Millisecond && done != total) {
		return
	}
	p.last = time.Now()
	p.spin = (p.spin + 1) % len(spinner)
	if total > 0 {
		width := 24
		filled := width * done / total
		fmt.Fprintf(p.w, "\r\033[K%s [%s%s] %d/%d", label, strings.Repeat("█", filled), strings.Repeat("·", width-filled), done, total)
		return
	}
	fmt.Fprintf(p.w, "\r\033[K%s %s", spinner[p.spin], label)
}

func (p *progress) done() {
	if p.enabled {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

// spinWhile shows a spinner with label until stop is closed.
func (p *progress) spinWhile(label string, stop <-chan struct{}) {
	if !p.enabled {
		<-stop
		return
	}
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			p.done()
			return
		case <-t.C:
			p.last = time.Time{}
			p.step(label, 0, 0)
		}
	}
}

// plural is "1 pipeline", "2 pipelines".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
