package benchkit

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's CPU times: 100 on
// every Linux platform Go supports (getconf CLK_TCK).
const clockTicks = 100

// CPUSeconds is the CPU time a PostgreSQL server has used since it
// started, read from /proc as scripts/lib/cpu.sh reads it: the
// postmaster's user and system time plus that of its children that exited
// (backends are its children, and it waits for each), plus the user and
// system time of its live children. Unlike wall time it does not depend on
// how busy the machine is. dataDir is the server's data directory (its
// postmaster.pid names the postmaster).
func CPUSeconds(dataDir string) (float64, error) {
	pidFile, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	pm, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(pidFile), "\n", 2)[0]))
	if err != nil {
		return 0, fmt.Errorf("%s/postmaster.pid: %w", dataDir, err)
	}
	ticks, err := procTicks(pm, true)
	if err != nil {
		return 0, err
	}
	children, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pm, pm))
	if err != nil {
		return 0, err
	}
	for _, c := range strings.Fields(string(children)) {
		pid, _ := strconv.Atoi(c)
		// A child that exits between the listing and the read is already
		// counted in the postmaster's children times.
		if t, err := procTicks(pid, false); err == nil {
			ticks += t
		}
	}
	return float64(ticks) / clockTicks, nil
}

// procTicks is utime+stime of a process (fields 14 and 15 of its stat),
// with waited-for children's cutime+cstime (16 and 17) when withChildren.
func procTicks(pid int, withChildren bool) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	// The command name may hold spaces: fields start after its ')'.
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	last := 12 // fields after the name start at field 3, the state
	if withChildren {
		last = 14
	}
	var sum int64
	for i := 11; i <= last && i < len(fields); i++ {
		n, err := strconv.ParseInt(fields[i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		sum += n
	}
	return sum, nil
}
