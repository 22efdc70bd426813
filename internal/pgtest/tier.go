package pgtest

import (
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// RequireCitusEnv names the variable under which a Citus-tier test that
// would skip fails instead: CI sets it, so the tier cannot pass by not
// running. Without it (a user's fresh clone) the tier skips with its reason.
const RequireCitusEnv = "PGTEST_REQUIRE_CITUS"

// TallyEnv names a file to which each test package appends, when its tests
// end, how many Citus-tier tests it ran ("<package dir> <n>"), so CI can
// print how many ran in all.
const TallyEnv = "PGTEST_CITUS_TALLY"

// citusTierRan counts the Citus-tier tests of this test binary that got a
// cluster (test code only: one count per process is what the tally needs).
var citusTierRan atomic.Int64

// CitusRequired reports whether PGTEST_REQUIRE_CITUS asks the Citus tier to
// run.
func CitusRequired() bool { return os.Getenv(RequireCitusEnv) == "1" }

// CitusTier marks t as a Citus-tier test. When Citus is missing (reason
// says why) it skips t, or fails it under PGTEST_REQUIRE_CITUS; otherwise it
// counts t in the tally. A reason of "" means Citus is available.
func CitusTier(t testing.TB, reason string) {
	t.Helper()
	if reason == "" {
		citusTierRan.Add(1)
		return
	}
	if CitusRequired() {
		t.Fatalf("Citus tier required (%s=1) but cannot run: %s", RequireCitusEnv, reason)
		return
	}
	t.Skip("Citus tier skipped: " + reason)
}

// CitusAvailable reports whether the Citus extension is installed for the
// server binaries the harness uses, as a reason ("" when it is): the same
// check StartCluster makes.
func CitusAvailable() string {
	bindir, err := FindBinDir()
	if err != nil {
		return err.Error()
	}
	if err := CitusInstalled(bindir); err != nil {
		return err.Error()
	}
	return ""
}

// RequireCitus marks t as a Citus-tier test that starts its own cluster:
// it skips (or fails under PGTEST_REQUIRE_CITUS) when Citus is missing.
func RequireCitus(t testing.TB) {
	t.Helper()
	CitusTier(t, CitusAvailable())
}

// HasCitus reports whether the Citus branch of a test that covers both
// tiers (the demo, the crash test) runs; under PGTEST_REQUIRE_CITUS a
// missing Citus fails t instead.
func HasCitus(t testing.TB) bool {
	t.Helper()
	reason := CitusAvailable()
	if reason != "" && !CitusRequired() {
		t.Log("Citus tier skipped: " + reason)
		return false
	}
	CitusTier(t, reason)
	return true
}

// writeTally appends this package's count to the PGTEST_CITUS_TALLY file.
func writeTally() {
	path := os.Getenv(TallyEnv)
	if path == "" {
		return
	}
	dir, _ := os.Getwd()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgtest: writing the Citus tally:", err)
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "%s %d\n", filepath.Base(dir), citusTierRan.Load())
}
