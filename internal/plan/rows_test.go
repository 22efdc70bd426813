package plan_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/internal/plan"
	"github.com/tenantmover/tenantmover/internal/planview"
)

// TestUnknownRowEstimates: tables the source never analyzed show their
// count when small, "unknown" (null in JSON) when too big to count, never
// 0.
func TestUnknownRowEstimates(t *testing.T) {
	t.Parallel()
	p := build(t, `
CREATE TABLE store (id bigint PRIMARY KEY) WITH (autovacuum_enabled = off);
INSERT INTO store SELECT generate_series(1, 12);
CREATE TABLE product (id bigint PRIMARY KEY, store_id bigint NOT NULL REFERENCES store, pad text) WITH (autovacuum_enabled = off);
INSERT INTO product SELECT g, 1 + g % 12, repeat('x', 1000) FROM generate_series(1, 10000) g;
`, plan.Config{TenantTable: "store"})
	var text, js bytes.Buffer
	require.NoError(t, planview.RenderText(&text, p))
	require.NoError(t, planview.RenderJSON(&js, p))
	var doc struct {
		Tables []struct {
			Name string `json:"name"`
			Rows *int64 `json:"rows"`
		} `json:"tables"`
	}
	require.NoError(t, json.Unmarshal(js.Bytes(), &doc))
	rows := map[string]string{}
	for _, tb := range doc.Tables {
		rows[tb.Name] = "null"
		if tb.Rows != nil {
			rows[tb.Name] = fmt.Sprint(*tb.Rows)
		}
	}
	require.Equal(t, map[string]string{"public.store": "12", "public.product": "null"}, rows)
	var storeLine, productLine string
	for _, l := range strings.Split(text.String(), "\n") {
		f := strings.Fields(l)
		if len(f) > 0 && f[0] == "public.store" {
			storeLine = l
		}
		if len(f) > 0 && f[0] == "public.product" {
			productLine = l
		}
	}
	require.Contains(t, strings.Fields(storeLine), "12", storeLine)
	require.Contains(t, strings.Fields(productLine), "unknown", productLine)
}
