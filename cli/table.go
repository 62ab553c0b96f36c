package cli

import (
	"io"
	"strings"
	"unicode/utf8"
)

// table is an aligned text table: columns left-aligned, two spaces apart,
// no trailing blanks. Empty cells show as "-" so that every row has every
// column (and splits into words).
type table struct {
	header []string
	rows   [][]string
}

func newTable(header ...string) *table { return &table{header: header} }

func (t *table) add(cells ...string) {
	for i, c := range cells {
		if c == "" {
			cells[i] = "-"
		}
	}
	t.rows = append(t.rows, cells)
}

// write prints the table with each line prefixed by indent.
func (t *table) write(w io.Writer, indent string) error {
	width := make([]int, len(t.header))
	for _, r := range append([][]string{t.header}, t.rows...) {
		for i, c := range r {
			if i < len(width) {
				width[i] = max(width[i], utf8.RuneCountInString(c))
			}
		}
	}
	var b strings.Builder
	for _, r := range append([][]string{t.header}, t.rows...) {
		b.WriteString(indent)
		for i, c := range r {
			if i >= len(width) {
				break
			}
			b.WriteString(c)
			if i < len(r)-1 && i < len(width)-1 {
				b.WriteString(strings.Repeat(" ", width[i]-utf8.RuneCountInString(c)+2))
			}
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}
