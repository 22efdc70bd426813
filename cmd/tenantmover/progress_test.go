package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTabularKeepsEachRowOnOneLine(t *testing.T) {
	var b bytes.Buffer
	tabular(&b, []string{"TABLE", "TENANT"}, [][]string{
		{`"we;ird"."T ""x"""`, "line one\nline two"},
		{"public.store", "a'b\tc"},
	})
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	require.Len(t, lines, 3, b.String())
	require.Contains(t, lines[1], `line one\nline two`)
	require.Contains(t, lines[1], `"we;ird"."T ""x"""`, "quotes are shown as they are")
	require.Contains(t, lines[2], `a'b\tc`)
}
