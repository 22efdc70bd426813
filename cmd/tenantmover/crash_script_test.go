package main

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/internal/pgtest"
)

// scripts/crash-test.sh crashes migrate at random moments (SIGKILL of the
// tool, or of a server's postmaster) and proves with verify --checksum that
// nothing was lost or duplicated. CI runs it small: client kills into both
// targets, and two server kills (the source, under a plain target).
func TestCrashScript(t *testing.T) {
	if testing.Short() {
		t.Skip("the crash test starts its own servers; skipped with -short")
	}
	type round struct {
		args    []string
		crashes string
	}
	rounds := map[string]round{
		"plain":        {[]string{"-n", "3", "--max-delay", "4", "--plain"}, "3"},
		"plain-source": {[]string{"-n", "2", "--max-delay", "3", "--plain", "--kill", "source"}, "2"},
	}
	if pgtest.HasCitus(t) {
		rounds["citus"] = round{[]string{"-n", "3", "--max-delay", "4"}, "3"}
	}
	for name, r := range rounds {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{filepath.Join("..", "..", "scripts", "crash-test.sh")}, r.args...)
			out, err := exec.Command("bash", args...).CombinedOutput()
			require.NoError(t, err, "%s", out)
			require.Regexp(t, regexp.MustCompile(`(?m)^`+r.crashes+` crashes, 0 lost, 0 duplicated`), string(out))
		})
	}
}
