package citus

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tenantmover/tenantmover/internal/db"
)

// TransferMode is Citus's shard_transfer_mode.
type TransferMode string

const (
	// TransferAuto uses logical replication, so writes continue during the
	// move; Citus refuses tables without a replica identity.
	TransferAuto TransferMode = "auto"
	// TransferForceLogical uses logical replication even for tables
	// without a replica identity: their UPDATEs and DELETEs fail while
	// their shard moves.
	TransferForceLogical TransferMode = "force_logical"
	// TransferBlockWrites copies shards while writes to them wait: no
	// logical replication, so none of its preconditions.
	TransferBlockWrites TransferMode = "block_writes"
)

// ParseTransferMode validates a --transfer-mode value ("" is auto).
func ParseTransferMode(s string) (TransferMode, error) {
	switch m := TransferMode(s); m {
	case "":
		return TransferAuto, nil
	case TransferAuto, TransferForceLogical, TransferBlockWrites:
		return m, nil
	}
	return "", fmt.Errorf("transfer mode %q: use auto, force_logical or block_writes", s)
}

// Logical reports whether the mode moves data with logical replication.
func (m TransferMode) Logical() bool { return m != TransferBlockWrites }

// Problem is one failed precondition of a logical-replication transfer.
type Problem struct {
	Check string           `json:"check"` // wal_level, output_plugin_libraries, replica_identity, node
	Node  string           `json:"node,omitempty"`
	Table db.QualifiedName `json:"table,omitzero"`
	What  string           `json:"what"`
	Fix   string           `json:"fix"`
}

func (p Problem) String() string {
	where := p.Node
	if where == "" {
		where = p.Table.String()
	}
	return fmt.Sprintf("%s: %s (fix: %s)", where, p.What, p.Fix)
}

// PreconditionError lists why a logical-replication transfer would fail,
// each with its fix, and offers block_writes instead.
type PreconditionError struct {
	Mode     TransferMode
	Problems []Problem
}

func (e *PreconditionError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "shard transfer mode %s uses logical replication, which cannot work here:", e.Mode)
	for _, p := range e.Problems {
		b.WriteString("\n  - " + p.String())
	}
	b.WriteString("\nFix the above, or use --transfer-mode block_writes (shard_transfer_mode => 'block_writes'): " +
		"Citus then copies each shard with COPY and needs none of this, but writes to a shard wait while it moves.")
	return b.String()
}

// CheckTransfer checks, before Citus starts a shard move, split or tenant
// isolation in mode, what would otherwise make it fail halfway: wal_level
// = logical on every node that holds shards, output_plugin_libraries (on
// servers that have the setting) allowing citus, and in auto mode a
// replica identity on every table that moves. It returns a
// *PreconditionError listing every failure, or nil. block_writes needs
// none of it.
func CheckTransfer(ctx context.Context, q Querier, mode TransferMode, tables []Table) error {
	if !mode.Logical() {
		return nil
	}
	problems, err := nodeProblems(ctx, q)
	if err != nil {
		return err
	}
	if mode == TransferAuto {
		tp, err := replicaIdentityProblems(ctx, q, tables)
		if err != nil {
			return err
		}
		problems = append(problems, tp...)
	}
	if len(problems) > 0 {
		return &PreconditionError{Mode: mode, Problems: problems}
	}
	return nil
}

// nodeSettings is what each node reports about logical decoding.
type nodeSettings struct {
	WalLevel string  `json:"wal_level"`
	Plugins  *string `json:"output_plugin_libraries"`
}

func nodeProblems(ctx context.Context, q Querier) ([]Problem, error) {
	nodes, err := Nodes(ctx, q)
	if err != nil {
		return nil, err
	}
	byID := map[int32]Node{}
	for _, n := range nodes {
		byID[n.ID] = n
	}
	rows, err := q.Query(ctx, `
		SELECT nodeid, success, result FROM pg_catalog.run_command_on_all_nodes($$
			SELECT json_build_object('wal_level', current_setting('wal_level'),
				'output_plugin_libraries', (SELECT setting FROM pg_catalog.pg_settings WHERE name = 'output_plugin_libraries'))
		$$)`)
	if err != nil {
		return nil, fmt.Errorf("reading wal_level on every node: %w", err)
	}
	defer rows.Close()
	var problems []Problem
	for rows.Next() {
		var (
			id     int32
			ok     bool
			result string
		)
		if err := rows.Scan(&id, &ok, &result); err != nil {
			return nil, fmt.Errorf("reading wal_level on every node: %w", err)
		}
		n, known := byID[id]
		if !known || (n.IsCoordinator() && !n.ShouldHaveShards) {
			continue // the coordinator holds no shards: nothing replicates from it
		}
		problems = append(problems, settingProblems(n, ok, result)...)
	}
	return problems, rows.Err()
}

func settingProblems(n Node, ok bool, result string) []Problem {
	if !ok {
		return []Problem{{Check: "node", Node: n.Addr(), What: "cannot be reached from the coordinator: " + result,
			Fix: "bring the node back, or remove it with citus_remove_node"}}
	}
	var s nodeSettings
	if err := json.Unmarshal([]byte(result), &s); err != nil {
		return []Problem{{Check: "node", Node: n.Addr(), What: "unreadable settings: " + result, Fix: "check the node"}}
	}
	var out []Problem
	if s.WalLevel != "logical" {
		out = append(out, Problem{Check: "wal_level", Node: n.Addr(),
			What: fmt.Sprintf("wal_level is %s; logical replication needs logical", s.WalLevel),
			Fix:  "ALTER SYSTEM SET wal_level = logical on that node, then restart it"})
	}
	if s.Plugins != nil && !pluginAllowed(*s.Plugins, "citus") {
		out = append(out, Problem{Check: "output_plugin_libraries", Node: n.Addr(),
			What: fmt.Sprintf("output_plugin_libraries = '%s' does not let citus decode WAL", *s.Plugins),
			Fix:  fmt.Sprintf("ALTER SYSTEM SET output_plugin_libraries = '%s' on that node, then reload it", addPlugin(*s.Plugins, "citus"))})
	}
	return out
}

// pluginAllowed reports whether a comma-separated library list names lib
// (or is a wildcard).
func pluginAllowed(list, lib string) bool {
	for _, p := range strings.Split(list, ",") {
		if p = strings.Trim(strings.TrimSpace(p), `"`); p == lib || p == "*" {
			return true
		}
	}
	return false
}

func addPlugin(list, lib string) string {
	if strings.TrimSpace(list) == "" {
		return lib
	}
	return list + ", " + lib
}

// replicaIdentityProblems lists tables whose UPDATEs and DELETEs logical
// replication could not carry: no replica identity, or a default identity
// without a primary key, or an index identity whose index is gone.
func replicaIdentityProblems(ctx context.Context, q Querier, tables []Table) ([]Problem, error) {
	var problems []Problem
	for _, t := range tables {
		if t.Type != "distributed" {
			continue
		}
		var ident string
		var hasKey bool
		err := q.QueryRow(ctx, `
			SELECT c.relreplident::text,
			       EXISTS (SELECT FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid
			               AND (CASE c.relreplident WHEN 'd' THEN i.indisprimary ELSE i.indisreplident END))
			FROM pg_catalog.pg_class c WHERE c.oid = $1::text::regclass`, t.Name.Quoted()).Scan(&ident, &hasKey)
		if err != nil {
			return nil, fmt.Errorf("reading the replica identity of %s: %w", t.Name, err)
		}
		if ident == "f" || (ident != "n" && hasKey) {
			continue
		}
		problems = append(problems, Problem{Check: "replica_identity", Table: t.Name,
			What: "has no primary key or replica identity, so its UPDATEs and DELETEs cannot be replicated while its shards move",
			Fix:  fmt.Sprintf("add a primary key, or ALTER TABLE %s REPLICA IDENTITY FULL (or USING INDEX on a unique index)", t.Name)})
	}
	return problems, nil
}
