package backfill

import (
	"fmt"
	"hash/fnv"
	"strings"
	"unicode/utf8"

	"github.com/tenantmover/tenantmover/internal/db"
)

// objectNames are the names of what the backfill creates for one table:
// unique per table and column (a hash of both), readable (they start with
// the table's and column's names, shortened), and within PostgreSQL's 63-byte
// identifier limit so they are never silently truncated into a collision.
type objectNames struct {
	Function string // in schema tenantmover
	Trigger  string // on the table
	Index    string // in the table's schema
	Check    string // the temporary NOT NULL check constraint
}

// helperSchema holds the trigger functions; checkpoints.Open creates it.
const helperSchema = "tenantmover"

func namesFor(table db.QualifiedName, column string) objectNames {
	h := fnv.New32a()
	_, _ = h.Write([]byte(table.Schema + "\x00" + table.Name + "\x00" + column))
	base := fmt.Sprintf("tm_%s_%s_%08x", truncateBytes(table.Name, 20), truncateBytes(column, 16), h.Sum32())
	return objectNames{
		Function: base + "_fill",
		Trigger:  base + "_fill",
		Index:    base + "_idx",
		Check:    base + "_nn",
	}
}

// truncateBytes shortens s to at most n bytes without splitting a character.
func truncateBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return strings.TrimRight(s, "_")
}

// FillTrigger is the name of the trigger the backfill installs on table to
// fill column on insert and update (kept with KeepTriggers): a follower
// needs it, since the rows the application writes get their tenant from it.
func FillTrigger(table db.QualifiedName, column string) string {
	return namesFor(table, column).Trigger
}
