// Command citus-check says whether the Citus tier of the tests runs here,
// with the harness's own detection (the server binaries localpg picks, with
// symlinks followed, and citus.so beside them). It prints one line and exits
// 0 when Citus is installed, 1 when it is not.
package main

import (
	"fmt"
	"os"

	"github.com/tenantmover/tenantmover/internal/localpg"
)

func main() {
	bindir, err := localpg.FindBinDir()
	if err == nil {
		err = localpg.CitusInstalled(bindir)
	}
	if err != nil {
		fmt.Println("Citus is not installed:", err)
		os.Exit(1)
	}
	fmt.Printf("Citus is installed for the server binaries in %s\n", bindir)
}
