package citus

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"unicode"
)

// NotCoordinatorError says the target database cannot drive Citus: the
// extension is missing, or the database is on a worker.
type NotCoordinatorError struct {
	Database string
	Reason   string
}

func (e *NotCoordinatorError) Error() string {
	return fmt.Sprintf("target is not a Citus coordinator (%s)", e.Reason)
}

// IsCitus reports whether the citus extension is installed in the database
// q is connected to.
func IsCitus(ctx context.Context, q Querier) (bool, error) {
	v, err := Detect(ctx, q)
	return v != "", err
}

// Detect returns the installed citus extension version, "" on a database
// without Citus: the one place tenantmover tells Citus from plain
// PostgreSQL.
func Detect(ctx context.Context, q Querier) (string, error) {
	var v string
	if err := q.QueryRow(ctx, `SELECT coalesce((SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'citus'), '')`).Scan(&v); err != nil {
		return "", fmt.Errorf("checking for the citus extension: %w", err)
	}
	return v, nil
}

// ActiveWorkers counts the coordinator's active worker nodes.
func ActiveWorkers(ctx context.Context, q Querier) (int, error) {
	var n int
	if err := q.QueryRow(ctx, `SELECT count(*) FROM pg_catalog.citus_get_active_worker_nodes()`).Scan(&n); err != nil {
		return 0, fmt.Errorf("listing the Citus workers: %w", err)
	}
	return n, nil
}

// Version is the installed citus extension version, e.g. "13.2-1".
func Version(ctx context.Context, q Querier) (string, error) {
	var v string
	if err := q.QueryRow(ctx, `SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'citus'`).Scan(&v); err != nil {
		return "", fmt.Errorf("reading the citus extension version: %w", err)
	}
	return v, nil
}

// RequireCoordinator returns the citus version when q is connected to a
// Citus coordinator, and a *NotCoordinatorError naming the database
// otherwise. Call it first: every other function assumes a coordinator.
func RequireCoordinator(ctx context.Context, q Querier) (string, error) {
	var dbname string
	if err := q.QueryRow(ctx, `SELECT current_database()`).Scan(&dbname); err != nil {
		return "", fmt.Errorf("reading the database name: %w", err)
	}
	ok, err := IsCitus(ctx, q)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", &NotCoordinatorError{Database: dbname, Reason: fmt.Sprintf("extension citus not installed in database %s", dbname)}
	}
	var coord bool
	if err := q.QueryRow(ctx, `SELECT pg_catalog.citus_is_coordinator()`).Scan(&coord); err != nil {
		return "", fmt.Errorf("checking whether database %s is on the coordinator: %w", dbname, err)
	}
	if !coord {
		return "", &NotCoordinatorError{Database: dbname, Reason: fmt.Sprintf("database %s is on a Citus worker, not the coordinator: connect to the coordinator", dbname)}
	}
	return Version(ctx, q)
}

// WorkerURL builds the connection string of node from the coordinator's: the
// same user, password, database and options, with the node's host and port.
// It accepts URIs (postgres://...) and libpq key=value strings; an empty
// coordinatorURL (PG* environment) gives "host=... port=...". Node names are
// as the coordinator reaches them, so they must also resolve from here.
func WorkerURL(coordinatorURL string, node Node) string {
	s := strings.TrimSpace(coordinatorURL)
	if strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://") {
		if u, err := url.Parse(s); err == nil {
			u.Host = net.JoinHostPort(node.Name, strconv.Itoa(node.Port))
			q := u.Query()
			// Query-string host/port would override the authority part.
			for _, k := range []string{"host", "hostaddr", "port"} {
				q.Del(k)
			}
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	kv := dropKeywords(s, "host", "hostaddr", "port")
	hostport := "host=" + kvQuote(node.Name) + " port=" + strconv.Itoa(node.Port)
	if kv == "" {
		return hostport
	}
	return kv + " " + hostport
}

// dropKeywords removes keywords from a libpq key=value string, keeping
// every other pair exactly as written.
func dropKeywords(s string, drop ...string) string {
	var kept []string
	for _, pair := range splitKeywordValue(s) {
		key := strings.TrimSpace(strings.SplitN(pair, "=", 2)[0])
		skip := false
		for _, d := range drop {
			skip = skip || key == d
		}
		if !skip {
			kept = append(kept, pair)
		}
	}
	return strings.Join(kept, " ")
}

// splitKeywordValue splits "a=1 b = 'x y' c='it\'s'" into its pairs, each
// as written (quotes and escapes intact).
func splitKeywordValue(s string) []string {
	var pairs []string
	rs := []rune(s)
	i := 0
	for i < len(rs) {
		for i < len(rs) && unicode.IsSpace(rs[i]) {
			i++
		}
		if i >= len(rs) {
			break
		}
		start := i
		for i < len(rs) && rs[i] != '=' {
			i++
		}
		i++ // '='
		for i < len(rs) && rs[i] == ' ' {
			i++
		}
		if i < len(rs) && rs[i] == '\'' {
			i++
			for i < len(rs) && rs[i] != '\'' {
				if rs[i] == '\\' {
					i++
				}
				i++
			}
			i++
		} else {
			for i < len(rs) && !unicode.IsSpace(rs[i]) {
				if rs[i] == '\\' {
					i++
				}
				i++
			}
		}
		if i > len(rs) {
			i = len(rs)
		}
		pairs = append(pairs, strings.TrimSpace(string(rs[start:i])))
	}
	return pairs
}

// kvQuote quotes a libpq keyword value when it needs it.
func kvQuote(v string) string {
	if v != "" && !strings.ContainsAny(v, " '\\\t\n") {
		return v
	}
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}
