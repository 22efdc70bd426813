package ddl

import (
	"fmt"
	"io"
	"strings"

	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/plan"
)

// sectionTitles head each group of statements in RenderSQL.
var sectionTitles = map[StepKind]string{
	StepSchema:      "Schemas",
	StepExtension:   "Extensions (Citus creates them on the workers too)",
	StepCollation:   "Collations",
	StepType:        "Types",
	StepFunction:    "Functions and procedures",
	StepSequence:    "Sequences",
	StepTable:       "Tables, with the tenant column and composite keys",
	StepReference:   "Reference tables",
	StepDistribute:  "Distributed tables, colocated with the tenant table",
	StepView:        "Views and materialized views (created empty), each after what it uses",
	StepComment:     "Comments",
	StepGrant:       "Grants",
	StepForeignKey:  "Foreign keys (composite between distributed tables)",
	StepRefresh:     "Materialized views filled (after the data)",
	StepTrigger:     "Triggers (after the data: they would fire for copied rows)",
	StepRowSecurity: "Row-level security (after the data)",
	StepPolicy:      "Policies",
}

// Script writes the target schema as one script for the Citus
// coordinator. It runs in one transaction; sequential shard modification
// mode lets Citus create tables, distribute them and add foreign keys
// between them inside a single transaction.
func Script(w io.Writer, p *plan.Plan) error {
	var b strings.Builder
	fmt.Fprintf(&b, "-- Citus target schema written by tenantmover.\n")
	fmt.Fprintf(&b, "-- Tenant table %s, distributed by %s (%s); new tenant columns are called %s.\n",
		p.Root.Name(), db.QuoteIfNeeded(p.RootKey), p.KeyType, db.QuoteIfNeeded(p.TenantColumn))
	if n := len(p.Blocking()); n > 0 {
		fmt.Fprintf(&b, "-- WARNING: %d table(s) have blocking problems (marked BLOCKING below); this script will fail or lose data until they are fixed.\n", n)
	}
	if n := p.NotCreated(); n > 0 {
		fmt.Fprintf(&b, "-- %d schema object(s) of the source are not created here: tenantmover plan lists each with the reason and the remedy.\n", n)
	}
	b.WriteString("\nBEGIN;\nSET LOCAL citus.multi_shard_modify_mode TO 'sequential';\nSET LOCAL check_function_bodies TO off;\n")
	var last StepKind
	for _, s := range Steps(p) {
		if s.Kind != last {
			fmt.Fprintf(&b, "\n-- %s\n", sectionTitles[s.Kind])
			last = s.Kind
		}
		if s.Kind == StepTable {
			b.WriteString(tableComment(p.Table(s.Table)))
		}
		b.WriteString(s.SQL + "\n")
		if s.Kind == StepTable {
			b.WriteString("\n")
		}
	}
	b.WriteString("\nCOMMIT;\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// tableComment says what the table becomes and lists its problems.
func tableComment(t *plan.Table) string {
	var b strings.Builder
	fmt.Fprintf(&b, "-- %s: %s", t.Name(), t.Kind)
	if t.Kind.Distributed() {
		fmt.Fprintf(&b, " by %s", db.QuoteIfNeeded(t.TenantColumn))
	}
	if len(t.Path) > 0 {
		fmt.Fprintf(&b, " (%s)", plan.PathString(t.Path))
	}
	b.WriteString("\n")
	for _, pr := range t.Problems {
		tag := "note"
		if pr.Blocking {
			tag = "BLOCKING"
		}
		fmt.Fprintf(&b, "--   %s %s: %s\n", tag, pr.Code, oneLine(pr.Message))
	}
	return b.String()
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
