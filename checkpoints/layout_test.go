package checkpoints

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Open skips the DDL of a current schema only if schema.sql really ends by
// marking it current.
func TestSchemaMarksTheLayout(t *testing.T) {
	require.Contains(t, schemaSQL, "COMMENT ON SCHEMA tenantmover IS '"+layout+"';\n")
}
