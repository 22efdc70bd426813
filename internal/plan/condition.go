package plan

import (
	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/schema"
)

// WhenSQL is the type test of a polymorphic branch on the row alias, ""
// for nil: alias.type_column::text = 'Post' (text, so varchar and enum
// columns compare alike), or for a Django content type the key of the
// content type named app_label.model. value renders each value: a bind
// parameter in queries, a literal in trigger functions.
func WhenSQL(c *schema.Condition, alias string, value func(string) string) string {
	if c == nil {
		return ""
	}
	col := alias + "." + db.Ident(c.Column)
	if ct := c.ContentType; ct != nil {
		return col + " = (SELECT ct." + db.Ident(ct.Key) + " FROM " + ct.Table.Quoted() + " AS ct WHERE ct.app_label = " +
			value(ct.AppLabel) + " AND ct.model = " + value(ct.Model) + ")"
	}
	return col + "::text = " + value(c.Value)
}
