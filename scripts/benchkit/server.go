package benchkit

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/localpg"
	"github.com/tenantmover/tenantmover/internal/sample"
)

// Server is the PostgreSQL server a benchmark makes its databases on.
type Server struct {
	url   func(dbname string) string
	admin *pgxpool.Pool   // on database postgres: creates and drops the others
	local *localpg.Server // the throwaway server, nil when --url named one
}

// StartServer connects to the server adminURL names (any database on it, as
// a superuser) or, when adminURL is "", starts a throwaway server with the
// given postgresql.conf settings (values written as is, see localpg.Options).
func StartServer(ctx context.Context, adminURL string, settings map[string]string) (*Server, error) {
	s := &Server{}
	if adminURL == "" {
		local, err := localpg.Start(localpg.Options{Settings: settings})
		if err != nil {
			return nil, err
		}
		s.local, s.url = local, local.URL
	} else {
		u, err := url.Parse(adminURL)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			return nil, fmt.Errorf("--url must be a postgres:// URL (the benchmark makes its databases by name on that server)")
		}
		// Same user, password, host and options; another database.
		s.url = func(name string) string {
			v := *u
			v.Path = "/" + name
			return v.String()
		}
	}
	admin, err := db.Open(ctx, s.url("postgres"), db.Options{})
	if err != nil {
		s.Close()
		return nil, err
	}
	s.admin = admin
	return s, nil
}

// Close disconnects and, if the server was started for the run, stops and
// removes it.
func (s *Server) Close() {
	if s.admin != nil {
		s.admin.Close()
	}
	if s.local != nil {
		_ = s.local.Close()
	}
}

// DataDir is the data directory of the throwaway server, "" when --url
// named the server (its processes may not be on this machine).
func (s *Server) DataDir() string {
	if s.local == nil {
		return ""
	}
	return s.local.DataDir()
}

// URL is a superuser's connection URL for database dbname.
func (s *Server) URL(dbname string) string { return s.url(dbname) }

// Exists reports whether database name exists.
func (s *Server) Exists(ctx context.Context, name string) (bool, error) {
	var exists bool
	err := s.admin.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)`, name).Scan(&exists)
	return exists, err
}

// Drop drops database name if it exists, ending its sessions.
func (s *Server) Drop(ctx context.Context, name string) error {
	_, err := s.admin.Exec(ctx, "DROP DATABASE IF EXISTS "+db.Ident(name)+" WITH (FORCE)")
	return err
}

// Create makes database name afresh (dropping one of that name): empty, or
// a copy of database template when template is not "".
func (s *Server) Create(ctx context.Context, name, template string) error {
	if err := s.Drop(ctx, name); err != nil {
		return err
	}
	sql := "CREATE DATABASE " + db.Ident(name)
	if template != "" {
		sql += " TEMPLATE " + db.Ident(template)
	}
	_, err := s.admin.Exec(ctx, sql)
	return err
}

// Generate makes database name afresh and fills it with the sample monolith
// of the size preset, then runs the statements after (VACUUM ANALYZE, say).
// It returns the monolith's parameters and how long filling it and the
// statements after took.
func (s *Server) Generate(ctx context.Context, name, size string, after ...string) (sample.Params, time.Duration, error) {
	p, err := sample.Size(size)
	if err != nil {
		return p, 0, err
	}
	if err := s.Create(ctx, name, ""); err != nil {
		return p, 0, err
	}
	pool, err := db.Open(ctx, s.URL(name), db.Options{MaxConns: 4})
	if err != nil {
		return p, 0, err
	}
	defer pool.Close()
	took, err := Time(func() error {
		if err := sample.Generate(ctx, pool, p, sample.WithWorkers(2)); err != nil {
			return err
		}
		return Exec(ctx, pool, after...)
	})
	return p, took, err
}

// Exec runs the statements in order, stopping at the first that fails
// (its error names it).
func Exec(ctx context.Context, pool *pgxpool.Pool, sqls ...string) error {
	for _, sql := range sqls {
		if _, err := pool.Exec(ctx, sql); err != nil {
			return fmt.Errorf("%s: %w", sql, err)
		}
	}
	return nil
}
