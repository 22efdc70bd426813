// Package localpg starts throwaway local PostgreSQL servers and Citus
// clusters: initdb and pg_ctl on a free loopback port in a temporary
// directory, with durability off because the data is thrown away. The demo,
// the benchmarks and the test harness (internal/pgtest) use it.
//
// Servers left behind by a process that was killed are found and stopped the
// next time any localpg server starts: each server directory records the pid
// of the process that owns it.
//
// When run as root the server runs as the "postgres" user with HOME set to
// the temporary directory: PostgreSQL refuses to run as root, and Citus's
// node-to-node connections would otherwise try to read root's home.
package localpg

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// dirPrefix names every server directory so stale ones can be found.
const dirPrefix = "tenantmover-pgtest-"

// Options configure a server.
type Options struct {
	// Settings are extra postgresql.conf lines (name -> value, written as is:
	// quote string values yourself).
	Settings map[string]string
}

// Server is a running PostgreSQL server.
type Server struct {
	BinDir  string
	Dir     string // temporary directory holding data, socket and log
	Port    int
	Version int // server major version, e.g. 15
	opts    Options
	cred    *syscall.Credential
}

// DataDir is the cluster's data directory.
func (s *Server) DataDir() string { return filepath.Join(s.Dir, "data") }

// LogFile is the server log, worth reading when a test fails.
func (s *Server) LogFile() string { return filepath.Join(s.Dir, "server.log") }

// URL returns a connection URI for database db as superuser postgres.
func (s *Server) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.Port, db)
}

// Start initialises and starts a new server.
func Start(opts Options) (*Server, error) {
	bindir, err := FindBinDir()
	if err != nil {
		return nil, err
	}
	cleanupStale()
	dir, err := os.MkdirTemp("", dirPrefix)
	if err != nil {
		return nil, err
	}
	s := &Server{BinDir: bindir, Dir: dir, opts: opts}
	if err := s.init(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	if err := s.startOnFreePort(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

func (s *Server) init() error {
	if err := os.WriteFile(filepath.Join(s.Dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return err
	}
	cred, err := serverCredential()
	if err != nil {
		return err
	}
	s.cred = cred
	if cred != nil {
		if err := chownTree(s.Dir, cred); err != nil {
			return err
		}
	}
	if out, err := s.run("initdb", "-D", s.DataDir(), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
		return fmt.Errorf("initdb: %w\n%s", err, out)
	}
	v, err := s.readVersion()
	if err != nil {
		return err
	}
	s.Version = v
	return nil
}

// startOnFreePort picks a free port and starts; another process may grab
// the port between the pick and the start, so it tries a few times.
func (s *Server) startOnFreePort() error {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if s.Port, err = freePort(); err != nil {
			return err
		}
		if err = s.writeConf(); err != nil {
			return err
		}
		if err = s.Start(); err == nil {
			return nil
		}
	}
	return err
}

func (s *Server) writeConf() error {
	conf := map[string]string{
		"listen_addresses":          "'127.0.0.1'",
		"port":                      strconv.Itoa(s.Port),
		"unix_socket_directories":   "'" + s.Dir + "'",
		"fsync":                     "off",
		"synchronous_commit":        "off",
		"full_page_writes":          "off",
		"max_connections":           "300",
		"max_prepared_transactions": "300",
		"shared_buffers":            "128MB",
		"log_min_messages":          "warning",
		"log_min_error_statement":   "panic",
	}
	for k, v := range s.opts.Settings {
		conf[k] = v
	}
	keys := make([]string, 0, len(conf))
	for k := range conf {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s = %s\n", k, conf[k])
	}
	path := filepath.Join(s.DataDir(), "postgresql.auto.conf")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return err
	}
	if s.cred != nil {
		return os.Chown(path, int(s.cred.Uid), int(s.cred.Gid))
	}
	return nil
}

// WriteConfigFile writes a configuration file such as pg_hba.conf into the
// data directory, owned by the user the server runs as (it must be able to
// read it after a reload). name is a plain file name.
func (s *Server) WriteConfigFile(name, content string) error {
	if name == "" || filepath.Base(name) != name {
		return fmt.Errorf("config file name %q: want a plain file name", name)
	}
	path := filepath.Join(s.DataDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		return err
	}
	if s.cred != nil {
		return os.Chown(path, int(s.cred.Uid), int(s.cred.Gid))
	}
	return nil
}

// Start starts a stopped server on its port.
func (s *Server) Start() error {
	out, err := s.run("pg_ctl", "-D", s.DataDir(), "-l", s.LogFile(), "-w", "-t", "60", "start")
	if err != nil {
		return fmt.Errorf("pg_ctl start on port %d: %w\n%s\n%s", s.Port, err, out, tail(s.LogFile()))
	}
	return nil
}

// Stop stops the server immediately (the data is disposable).
func (s *Server) Stop() error {
	out, err := s.run("pg_ctl", "-D", s.DataDir(), "-m", "immediate", "-w", "stop")
	if err != nil {
		return fmt.Errorf("pg_ctl stop: %w\n%s", err, out)
	}
	return nil
}

// Restart stops and starts the server, dropping every connection.
func (s *Server) Restart() error {
	if err := s.Stop(); err != nil {
		return err
	}
	return s.Start()
}

// Close stops the server and removes its directory.
func (s *Server) Close() error {
	err := s.Stop()
	if rerr := os.RemoveAll(s.Dir); err == nil {
		err = rerr
	}
	return err
}

// Exec runs SQL on database db of the server.
func (s *Server) Exec(ctx context.Context, db, sql string, args ...any) error {
	conn, err := pgx.Connect(ctx, s.URL(db))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql, args...)
	return err
}

func (s *Server) run(tool string, args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(s.BinDir, tool), args...)
	cmd.Env = append(os.Environ(), "HOME="+s.Dir, "LC_ALL=C")
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	cmd.Dir = s.Dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (s *Server) readVersion() (int, error) {
	b, err := os.ReadFile(filepath.Join(s.DataDir(), "PG_VERSION"))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// HasSetting reports whether the server binary knows a configuration
// parameter (some exist only in recent minor releases).
func (s *Server) HasSetting(name string) bool {
	out, err := exec.Command(filepath.Join(s.BinDir, "postgres"), "--describe-config").Output()
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.SplitN(line, "\t", 2); len(f) > 0 && f[0] == name {
			return true
		}
	}
	return false
}

// FindBinDir locates the PostgreSQL server binaries: $PGTEST_BINDIR,
// `pg_config --bindir`, initdb on PATH, or the newest /usr/lib/postgresql/*/bin.
func FindBinDir() (string, error) {
	if d := os.Getenv("PGTEST_BINDIR"); d != "" {
		if hasInitdb(d) {
			return d, nil
		}
		return "", fmt.Errorf("PGTEST_BINDIR=%s has no initdb", d)
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if d := strings.TrimSpace(string(out)); hasInitdb(d) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		// Followed: a wrapper link in /usr/bin says nothing of where the
		// server's libraries (and citus.so) are.
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		return filepath.Dir(p), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if hasInitdb(d) {
			return d, nil
		}
	}
	return "", errors.New("no PostgreSQL server binaries found (tried $PGTEST_BINDIR, pg_config --bindir, PATH, /usr/lib/postgresql/*/bin): install them, e.g. apt-get install -y postgresql")
}

func versionOf(bindir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(bindir)))
	return v
}

func hasInitdb(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "initdb"))
	return err == nil
}

// serverCredential returns the postgres user's credential when running as
// root (PostgreSQL refuses to run as root), nil otherwise.
func serverCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root needs a 'postgres' user to run the server as: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func chownTree(dir string, cred *syscall.Credential) error {
	return filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chown(p, int(cred.Uid), int(cred.Gid))
	})
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// cleanupStale stops servers whose owning test process no longer exists.
func cleanupStale() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, "owner.pid"))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || processAlive(pid) {
			continue
		}
		stopStale(dir)
		_ = os.RemoveAll(dir)
	}
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// stopStale kills a left-behind postmaster by the pid in its postmaster.pid.
func stopStale(dir string) {
	b, err := os.ReadFile(filepath.Join(dir, "data", "postmaster.pid"))
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil {
		return
	}
	// SIGQUIT is PostgreSQL's immediate shutdown.
	_ = syscall.Kill(pid, syscall.SIGQUIT)
	// The postmaster is not our child, so there is nothing to wait on but
	// its pid; give it up to five seconds.
	for i := 0; i < 100 && processAlive(pid); i++ {
		time.Sleep(50 * time.Millisecond)
	}
}

func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// Detach leaves the server running after this process exits: it is no
// longer reaped as a stale server by the next Start. Stop it with
// `pg_ctl -D <DataDir> stop` (as its owner) and remove Dir.
func (s *Server) Detach() error {
	err := os.Remove(filepath.Join(s.Dir, "owner.pid"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// StopCommand is the shell command that stops a detached server.
func (s *Server) StopCommand() string {
	cmd := fmt.Sprintf("%s -D %s -m fast stop && rm -rf %s", filepath.Join(s.BinDir, "pg_ctl"), s.DataDir(), s.Dir)
	if s.cred != nil {
		return fmt.Sprintf("runuser -u postgres -- %s -D %s -m fast stop && rm -rf %s", filepath.Join(s.BinDir, "pg_ctl"), s.DataDir(), s.Dir)
	}
	return cmd
}
