package citus

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Call is one Citus function call tenantmover makes: the SQL with bind
// parameters, as executed, and a readable form for --dry-run output.
type Call struct {
	SQL  string
	Args []any
	// Note says what a placeholder in the readable form stands for, when a
	// value is only known once an earlier call has run.
	Note string
}

// String renders the call with its arguments as SQL literals, for people
// to read (dry runs, logs). It is never executed.
func (c Call) String() string {
	// One pass, so a value that contains "$2" is not substituted again.
	sql := strings.Join(strings.Fields(c.SQL), " ")
	s := param.ReplaceAllStringFunc(sql, func(m string) string {
		i, _ := strconv.Atoi(m[1:])
		if i < 1 || i > len(c.Args) {
			return m
		}
		return literal(c.Args[i-1])
	})
	s += ";"
	if c.Note != "" {
		s += " -- " + c.Note
	}
	return s
}

func literal(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case int, int32, int64:
		return fmt.Sprint(x)
	case placeholder:
		return string(x)
	case *string:
		if x == nil {
			return "NULL"
		}
		return literal(*x)
	}
	return "'" + strings.ReplaceAll(fmt.Sprint(v), "'", "''") + "'"
}

var param = regexp.MustCompile(`\$[0-9]+`)

// placeholder stands for a value not known before an earlier call runs; it
// appears only in the readable form of a dry run.
type placeholder string

func (c Call) exec(ctx context.Context, q Querier) error {
	if _, err := q.Exec(ctx, c.SQL, c.Args...); err != nil {
		return fmt.Errorf("%s: %w", c.String(), err)
	}
	return nil
}

// nullable turns "" into SQL NULL, for arguments whose default Citus picks.
func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
