package checkpoints

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Every unit has exactly one part; a table's units spread over the parts
// evenly (round-robin), and one-unit tables do not all land on one part.
func TestPartsCoverDisjointly(t *testing.T) {
	const n = 3
	tables := []string{"public.store", "public.product", "public.purchase", "public.refund", "public.auth_user", `"Sales Ops"."Tenant"`}
	firsts := map[int]bool{}
	for _, table := range tables {
		counts := make([]int, n)
		for id := 0; id < 100; id++ {
			owners := 0
			for k := 1; k <= n; k++ {
				if (Part{K: k, N: n}).Owns(table, id) {
					owners++
					counts[k-1]++
				}
			}
			require.Equal(t, 1, owners, "%s unit %d", table, id)
		}
		require.InDelta(t, 33, counts[0], 1, "%s: %v", table, counts)
		require.InDelta(t, 33, counts[2], 1, "%s: %v", table, counts)
		firsts[PartOf(table, 0, n)] = true
	}
	require.Greater(t, len(firsts), 1, "every table's first unit on the same part")
	require.True(t, Part{}.Owns("public.store", 7), "the whole run owns everything")
}

func TestParsePart(t *testing.T) {
	p, err := ParsePart("2/3")
	require.NoError(t, err)
	require.Equal(t, Part{K: 2, N: 3}, p)
	for _, bad := range []string{"0/3", "4/3", "1/0", "3", "a/b", "-1/2", ""} {
		_, err := ParsePart(bad)
		require.Error(t, err, bad)
	}
}
