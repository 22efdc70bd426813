package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"

	"github.com/urfave/cli/v2"

	"github.com/tenantmover/tenantmover/internal/phase"
)

// Output helpers shared by the commands. Human output goes to stderr
// (tabular tables, summaries); with --format json a command writes one
// JSON document to stdout, so it can be piped while the user still sees
// what happened.

// writeJSON writes v as the command's JSON document when format is "json";
// for text output it does nothing.
func writeJSON(c *cli.Context, format string, v any) error {
	if format != "json" {
		return nil
	}
	enc := json.NewEncoder(stdoutOf(c))
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// tabular writes aligned columns for human output. Cells are shown on one
// line: control characters in names and tenant values (a newline in a text
// key) are escaped, so they cannot split or forge a row.
func tabular(w io.Writer, header []string, rows [][]string) {
	for _, r := range rows {
		for i, cell := range r {
			r[i] = oneLineCell(cell)
		}
	}
	widths := make([]int, len(header))
	for i, h := range header {
		widths[i] = len([]rune(h))
	}
	for _, r := range rows {
		for i, cell := range r {
			if i < len(widths) && len([]rune(cell)) > widths[i] {
				widths[i] = len([]rune(cell))
			}
		}
	}
	line := func(cells []string) {
		for i, cell := range cells {
			if i == len(cells)-1 {
				fmt.Fprintln(w, cell)
				break
			}
			fmt.Fprintf(w, "%-*s  ", widths[i], cell)
		}
	}
	line(header)
	for _, r := range rows {
		line(r)
	}
}

// oneLineCell escapes control characters as Go does in strings (\n, \t,
// \x1b), leaving every other character, quotes included, as it is.
func oneLineCell(s string) string {
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	q := strconv.Quote(s)
	return strings.ReplaceAll(q[1:len(q)-1], `\"`, `"`)
}

func fmtBytes(n int64) string { return phase.FormatBytes(n) }

func dashIfEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func pct(f float64) string { return fmt.Sprintf("%.1f%%", 100*f) }

func optInt(v *int64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprint(*v)
}

func optFloat(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.2f", *v)
}
