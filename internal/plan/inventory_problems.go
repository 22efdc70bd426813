package plan

import (
	"fmt"
	"strings"

	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/schema"
)

// Problem codes of schema objects other than tables' keys. What Citus 13
// does with each kind was read in its source (src/backend/distributed of
// citusdata/citus v13.2.2); the comment names the place.
const (
	// CodeExcluded: a table left out with --exclude, or an object on one.
	CodeExcluded = "excluded"
	// CodeDependsOnMissing: an object that needs one the target does not
	// get (a view over an excluded table, a comment on a reported trigger).
	CodeDependsOnMissing = "depends_on_missing"
	// CodeExtensionUnavailable: the target cannot install an extension the
	// source has (not in pg_available_extensions); Citus runs CREATE
	// EXTENSION on every worker too (commands/extension.c), so each needs
	// its files.
	CodeExtensionUnavailable = "extension_unavailable"
	// CodeBaseType: a type written in C outside an extension.
	CodeBaseType = "base_type"
	// CodeRangeLocal: Citus does not propagate range types (commands/type.c:
	// "Types that are currently not supported: Range Types";
	// metadata/dependency.c SupportedDependencyByCitus), so the target's
	// coordinator alone has it.
	CodeRangeLocal = "range_type_local"
	// CodeRangeColumn: a column of a user range type; Citus refuses to
	// distribute the table ("has dependency on unsupported object").
	CodeRangeColumn = "range_type_column"
	// CodeAggregate: an aggregate (or window function), which
	// pg_get_functiondef cannot show.
	CodeAggregate = "aggregate_not_recreated"
	// CodeCFunction: a function in C outside an extension: its shared
	// library must be on every node.
	CodeCFunction = "c_function"
	// CodeFunctionNotRecreated: a table's default, check or index calls a
	// function the target does not get, so the table cannot be created.
	CodeFunctionNotRecreated = "function_not_recreated"
	// CodeLocalOnly: an object Citus keeps on the coordinator because it
	// depends on one Citus does not propagate (a warning "will be created
	// only locally", metadata/dependency.c).
	CodeLocalOnly = "coordinator_only"
	// CodeMatViewLocal: Citus does not distribute materialized views
	// (SupportedDependencyByCitus leaves RELKIND_MATVIEW out): it is a
	// local table on the coordinator that REFRESH fills from the
	// distributed tables.
	CodeMatViewLocal = "materialized_view_local"
	// CodeViewGroupsByKey: a view groups by a table's primary key and
	// selects its other columns, which PostgreSQL allows because the key
	// determines them (the view depends on the key constraint). On the
	// target that key is composite with the tenant column, so the view's
	// GROUP BY no longer covers it and CREATE VIEW fails ("must appear in
	// the GROUP BY clause").
	CodeViewGroupsByKey = "view_groups_by_key"
	// CodeTriggerUnsafe: a trigger on a distributed table; Citus refuses it
	// ("triggers are not supported on distributed tables",
	// commands/trigger.c ErrorOutForTriggerIfNotSupported) unless
	// citus.enable_unsafe_triggers is on, with which it runs on each shard.
	CodeTriggerUnsafe = "trigger_unsafe"
	// CodeTriggerPerShard: a statement-level or TRUNCATE trigger on a
	// distributed table: with citus.enable_unsafe_triggers it would fire
	// once per shard a statement touches, not once per statement.
	CodeTriggerPerShard = "trigger_per_shard"
	// CodeTriggerOnReference: a trigger on a reference table; Citus refuses
	// it ("triggers are not supported on reference tables") unless
	// citus.enable_unsafe_triggers is on, with which it runs on every
	// replica.
	CodeTriggerOnReference = "trigger_on_reference"
	// CodePolicySubquery: Citus refuses policies with subqueries on
	// distributed and reference tables (commands/policy.c
	// ErrorIfUnsupportedPolicyExpr: "Subqueries are not supported in
	// policies on distributed tables").
	CodePolicySubquery = "policy_subquery"
	// CodePolicySetting: a policy that reads a session setting
	// (current_setting): Citus evaluates it on the workers, which get only
	// SET LOCAL settings, and only with citus.propagate_set_commands =
	// 'local' (commands/variableset.c ShouldPropagateSetCommand; the
	// default is none).
	CodePolicySetting = "policy_session_setting"
	// CodeRoleMissing: a grant or policy names a role the target lacks.
	CodeRoleMissing = "role_missing"
	// CodeSequenceValue: a sequence no migrated column uses: the target
	// gets it, but copy and cutover move only column sequences.
	CodeSequenceValue = "sequence_value"
	// CodeUnknownObject: a comment or grant on an object tenantmover does
	// not recreate by itself.
	CodeUnknownObject = "unknown_object"
)

func excludedTable(t *Table) Problem {
	return Problem{
		Code:    CodeExcluded,
		Message: fmt.Sprintf("%s is left out (--exclude): the target does not get it, nor its triggers, policies, comments and grants", t.Name()),
		Remedy:  fmt.Sprintf("drop --exclude %s to migrate it", t.Name()),
	}
}

func onExcluded(kind string, table schema.Name) Problem {
	return Problem{
		Code:    CodeExcluded,
		Message: fmt.Sprintf("this %s belongs to %s, which is left out (--exclude or not read): the target does not get it", kind, table),
		Remedy:  fmt.Sprintf("migrate %s too (drop --exclude), or create it on the target yourself", table),
	}
}

func dependsOnMissing(kind, name string, missing *Object) Problem {
	return Problem{
		Code:    CodeDependsOnMissing,
		Message: fmt.Sprintf("%s %s needs %s %s, which the target does not get (see it in the inventory)", kind, name, missing.Kind, missing.Name),
		Remedy:  fmt.Sprintf("fix what keeps %s %s off the target, or create both there yourself", missing.Kind, missing.Name),
	}
}

func extensionUnavailable(x *schema.Extension) Problem {
	return Problem{
		Code: CodeExtensionUnavailable,
		Message: fmt.Sprintf("extension %s (version %s on the source) is not available on the target: CREATE EXTENSION would fail, and so would every object using it",
			x.Name, x.Version),
		Remedy:   fmt.Sprintf("install the extension's package on the coordinator and on every worker (Citus creates extensions on all nodes), then rerun; or remove %s from the source", x.Name),
		Blocking: true,
	}
}

func baseType(ty *schema.Type) Problem {
	return Problem{
		Code:    CodeBaseType,
		Message: fmt.Sprintf("type %s is a base type written in C outside an extension: tenantmover cannot recreate it", ty.Identity),
		Remedy:  fmt.Sprintf("create %s on the coordinator and every worker (its shared library must be on each) before plan --apply, or package it as an extension", ty.Identity),
	}
}

func rangeLocal(ty *schema.Type) Problem {
	return Problem{
		Code:    CodeRangeLocal,
		Message: fmt.Sprintf("range type %s is created on the coordinator only: Citus does not propagate range types to the workers", ty.Identity),
		Remedy:  "nothing to do for functions and views on the coordinator; a distributed or reference table cannot have a column of this type (plan reports those)",
	}
}

func rangeColumn(t *Table, ty *schema.Type, col string) Problem {
	return Problem{
		Code: CodeRangeColumn,
		Message: fmt.Sprintf("column %s of %s is of range type %s, which Citus does not propagate: it refuses to distribute the table (\"has dependency on unsupported object\")",
			db.QuoteIfNeeded(col), t.Name(), ty.Identity),
		Remedy:   fmt.Sprintf("on the source, use a built-in range type (int4range, int8range, numrange, tsrange, tstzrange, daterange) or two columns for the bounds, or --exclude %s", t.Name()),
		Blocking: true,
	}
}

func aggregateNotRecreated(f *schema.Function) Problem {
	return Problem{
		Code:    CodeAggregate,
		Message: fmt.Sprintf("%s %s is not recreated: pg_get_functiondef cannot show aggregates", f.Kind, f.Identity),
		Remedy:  "run its CREATE AGGREGATE on the coordinator (pg_dump --schema-only shows it; Citus propagates aggregates to the workers)",
	}
}

func cFunction(f *schema.Function) Problem {
	return Problem{
		Code:    CodeCFunction,
		Message: fmt.Sprintf("function %s is written in C outside an extension: its shared library must be on every node", f.Identity),
		Remedy:  "install the library on the coordinator and every worker and create the function on the coordinator, or package it as an extension",
	}
}

func functionNotRecreated(t *Table, fn *Object) Problem {
	return Problem{
		Code: CodeFunctionNotRecreated,
		Message: fmt.Sprintf("a default, check or index of %s calls %s %s, which the target does not get, so the table cannot be created",
			t.Name(), fn.Kind, fn.Name),
		Remedy:   fmt.Sprintf("create %s on the target before plan --apply (see its problem), or --exclude %s", fn.Name, t.Name()),
		Blocking: true,
	}
}

func localOnly(kind, name, dep, what string) Problem {
	return Problem{
		Code:    CodeLocalOnly,
		Message: fmt.Sprintf("%s %s uses %s, and Citus does not propagate %s: the coordinator alone has it (Citus warns that it \"will be created only locally\")", kind, name, dep, what),
		Remedy:  "nothing to do when the application queries through the coordinator",
	}
}

func viewGroupsByKey(kind string, v *schema.View, tables []*Table) Problem {
	var names, cols []string
	for _, t := range tables {
		names = append(names, t.Name().String())
		cols = append(cols, t.Name().String()+"."+db.QuoteIfNeeded(t.TenantColumn))
	}
	return Problem{
		Code: CodeViewGroupsByKey,
		Message: fmt.Sprintf("%s %s groups by the primary key of %s and selects other columns, which PostgreSQL allows because the key determines them; on the target the key also has the tenant column, so the same GROUP BY no longer covers it and Citus would refuse the view (\"must appear in the GROUP BY clause\"): it is not created",
			kind, v.Identity, strings.Join(names, " and ")),
		Remedy: fmt.Sprintf("add %s to the view's GROUP BY (the groups stay the same, since the old key is unique): CREATE OR REPLACE VIEW on the source, then rerun plan; or create it so on the target by hand", strings.Join(cols, " and ")),
	}
}

func matViewLocal(v *schema.View) Problem {
	return Problem{
		Code: CodeMatViewLocal,
		Message: fmt.Sprintf("materialized view %s is created on the coordinator only: Citus does not distribute materialized views; REFRESH runs its query over the distributed tables and stores the result on the coordinator",
			v.Identity),
		Remedy: fmt.Sprintf("fine for a small summary (it is created empty and refreshed once the data is in: REFRESH MATERIALIZED VIEW %s after every later load); for a large one, make it a view, or a table (reference or distributed) that the application refreshes",
			v.Identity),
	}
}

func triggerUnsafe(tr *schema.Trigger) Problem {
	return Problem{
		Code: CodeTriggerUnsafe,
		Message: fmt.Sprintf("trigger %s is on a distributed table, which Citus allows only with citus.enable_unsafe_triggers: it is created with that setting and runs on the worker holding each row's shard. "+
			"A trigger function that only changes the row (NEW) works as before; one that reads or writes other tables runs on the worker, where Citus warns of \"visibility and deadlock issues\". "+
			"It would fire for the rows copy and follow write too, so it waits for the data: copy creates it when it is done, migrate after its copy, and with --follow the cutover, while writes are paused",
			tr.Identity),
		Remedy: fmt.Sprintf("check that %s only changes the row; otherwise move its work into the application and drop the trigger on the target (DROP TRIGGER %s). "+
			"By hand it is created with SET citus.enable_unsafe_triggers TO on; %s;",
			tr.Function, tr.Identity, tr.Definition),
	}
}

func triggerPerShard(tr *schema.Trigger) Problem {
	what := "a statement-level"
	if tr.Truncate {
		what = "a TRUNCATE"
	}
	return Problem{
		Code: CodeTriggerPerShard,
		Message: fmt.Sprintf("trigger %s is %s trigger on a distributed table: Citus refuses it without citus.enable_unsafe_triggers, and with it the trigger would fire once per shard a statement touches, not once per statement; it is not created",
			tr.Identity, what),
		Remedy: fmt.Sprintf("do its work in the application, or make it a row trigger on the source; to have it anyway: SET citus.enable_unsafe_triggers TO on; then %s; on the coordinator", tr.Definition),
	}
}

func triggerOnReference(tr *schema.Trigger) Problem {
	return Problem{
		Code: CodeTriggerOnReference,
		Message: fmt.Sprintf("trigger %s is on a reference table: Citus refuses it without citus.enable_unsafe_triggers, and with it the trigger runs on every node holding a replica, so now(), random values or writes to other tables would differ between replicas or happen once per node; it is not created",
			tr.Identity),
		Remedy: fmt.Sprintf("do its work in the application; if %s is deterministic and touches no other table, create it on the coordinator: SET citus.enable_unsafe_triggers TO on; then %s;", tr.Function, tr.Definition),
	}
}

func onMissingView(tr *schema.Trigger) Problem {
	return Problem{
		Code:    CodeDependsOnMissing,
		Message: fmt.Sprintf("trigger %s is on view %s, which the target does not get", tr.Identity, tr.Table),
		Remedy:  fmt.Sprintf("fix what keeps %s off the target (see it in the inventory)", tr.Table),
	}
}

func policySubquery(po *schema.Policy) Problem {
	pr := Problem{
		Code: CodePolicySubquery,
		Message: fmt.Sprintf("policy %s has a subquery, which Citus refuses in policies of distributed and reference tables (\"Subqueries are not supported in policies on distributed tables\"); it is not created",
			po.Identity),
		Remedy: "rewrite the condition without a subquery (for example with a function marked STABLE that looks the value up), then rerun plan",
	}
	if po.Permissive {
		pr.Message += ", so row-level security on the target shows fewer rows than on the source, never more"
	} else {
		pr.Message += ": it restricts access, so without it the target would show rows the source hides"
		pr.Blocking = true
	}
	return pr
}

func policySetting(po *schema.Policy) Problem {
	return Problem{
		Code: CodePolicySetting,
		Message: fmt.Sprintf("policy %s reads a session setting (current_setting): on Citus the workers evaluate it, and they see a setting only when it is SET LOCAL with citus.propagate_set_commands = 'local'; otherwise the policy sees NULL there",
			po.Identity),
		Remedy: "set the value with SET LOCAL inside the transaction, and citus.propagate_set_commands to 'local' in the application's sessions (ALTER ROLE <app role> SET citus.propagate_set_commands TO 'local')",
	}
}

func roleMissing(kind, name string, roles []string) Problem {
	return Problem{
		Code:    CodeRoleMissing,
		Message: fmt.Sprintf("%s %s names role %s, which the target does not have; it is not created", kind, name, strings.Join(roles, ", ")),
		Remedy:  fmt.Sprintf("create the role on the coordinator (CREATE ROLE %s; Citus propagates roles to the workers), then rerun plan --apply", db.Idents(roles)),
	}
}

func sequenceValue(q *schema.Sequence) Problem {
	return Problem{
		Code:    CodeSequenceValue,
		Message: fmt.Sprintf("sequence %s is used by no migrated column: the target gets it, but copy and cutover move only the sequences of columns, so it starts again at its start value", q.Name),
		Remedy:  fmt.Sprintf("after the cutover, set it on the target: SELECT setval(%s, <its value on the source>)", q.Name.Literal()),
	}
}

func constraintLeftOut(c *schema.Comment) Problem {
	return Problem{
		Code:    CodeDependsOnMissing,
		Message: fmt.Sprintf("the comment is on %s %s, which the target schema leaves out (the table's problems say why)", c.Type, c.Identity),
		Remedy:  "see the table's problem for that constraint or index",
	}
}

func commentOnUnknown(c *schema.Comment) Problem {
	return Problem{
		Code:    CodeUnknownObject,
		Message: fmt.Sprintf("the comment is on %s %s, which tenantmover does not recreate", c.Type, c.Identity),
		Remedy:  fmt.Sprintf("create the object on the target, then: COMMENT ON %s %s IS %s", strings.ToUpper(c.Type), c.Identity, literal(c.Text)),
	}
}

func grantOnUnknown(g *schema.Grant) Problem {
	return Problem{
		Code:    CodeUnknownObject,
		Message: fmt.Sprintf("the grant is on %s %s, which tenantmover does not recreate", g.Type, g.Identity),
		Remedy:  "create the object on the target, then grant the privileges there",
	}
}

// literal quotes a string as an SQL literal.
func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
