package main

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/tenantmover/tenantmover/internal/pgtest"
)

// The Django tier: a real Django project (testdata/django) created with
// Django's own migrate on a plain source, moved with tenantmover migrate
// into Citus, then run on the target with plan --format django's output.
// It needs Debian's python3-django and python3-psycopg2 (.ci/run installs
// them); without them it skips, saying why, unless
// TENANTMOVER_REQUIRE_DJANGO=1 (CI) makes that a failure.

const requireDjangoEnv = "TENANTMOVER_REQUIRE_DJANGO"

// djangoPython finds a Python that imports django and psycopg2: Debian's
// packages install for /usr/bin/python3, which need not be the first
// python3 on PATH (pyenv, virtualenvs).
func djangoPython(t *testing.T) string {
	t.Helper()
	candidates := []string{os.Getenv("TENANTMOVER_PYTHON"), "/usr/bin/python3"}
	if p, err := exec.LookPath("python3"); err == nil {
		candidates = append(candidates, p)
	}
	for _, py := range candidates {
		if py != "" && exec.Command(py, "-c", "import django, psycopg2").Run() == nil {
			return py
		}
	}
	why := "Django tier: no python3 imports django and psycopg2 (apt-get install -y python3-django python3-psycopg2)"
	if os.Getenv(requireDjangoEnv) == "1" {
		t.Fatalf("%s=1 but %s", requireDjangoEnv, why)
	}
	t.Skip(why)
	return ""
}

// djangoProject copies testdata/django into a temporary directory with
// models.py as the source's models.
func djangoProject(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	err := filepath.WalkDir("testdata/django", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("testdata/django", path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dir, rel), 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, rel), b, 0o644)
	})
	require.NoError(t, err)
	useModels(t, dir, "models_source.py")
	return dir
}

// useModels makes shop/models.py the given file of the project.
func useModels(t *testing.T, dir, name string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "shop", name))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "shop", "models.py"), b, 0o644))
}

// djangoApp runs manage.py commands against the database at url; extra are
// more environment variables.
type djangoApp struct {
	t      *testing.T
	python string
	dir    string
}

func (d djangoApp) run(url string, extra []string, args ...string) (string, error) {
	d.t.Helper()
	cfg, err := pgx.ParseConfig(url)
	require.NoError(d.t, err)
	cmd := exec.Command(d.python, append([]string{"manage.py"}, args...)...)
	cmd.Dir = d.dir
	cmd.Env = append(os.Environ(), "DJANGO_DB_NAME="+cfg.Database, "DJANGO_DB_USER="+cfg.User,
		"DJANGO_DB_HOST="+cfg.Host, "DJANGO_DB_PORT="+strconv.Itoa(int(cfg.Port)), "PYTHONDONTWRITEBYTECODE=1")
	cmd.Env = append(cmd.Env, extra...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// must runs a manage.py command that has to succeed.
func (d djangoApp) must(url string, extra []string, args ...string) string {
	d.t.Helper()
	out, err := d.run(url, extra, args...)
	require.NoError(d.t, err, "manage.py %s:\n%s", strings.Join(args, " "), out)
	return out
}

// script runs a Python file of the project in manage.py shell.
func (d djangoApp) script(url string, extra []string, file string) string {
	d.t.Helper()
	b, err := os.ReadFile(filepath.Join(d.dir, file))
	require.NoError(d.t, err)
	return d.must(url, extra, "shell", "-c", string(b))
}

// catalogFingerprint is the target's schema as text: tables, columns,
// constraints and indexes of the public schema, and Citus's table
// metadata. Equal before and after a migration means it ran no DDL.
func catalogFingerprint(t *testing.T, url string) string {
	t.Helper()
	pool := pgtest.Pool(t, url)
	return pgtest.Scalar[string](t, pool, `
		SELECT string_agg(line, E'\n' ORDER BY line) FROM (
			SELECT format('column %s.%s %s %s %s', c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
				pg_get_expr(d.adbin, d.adrelid)) AS line
			FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
			JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
			LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
			UNION ALL
			SELECT format('constraint %s %s %s', conrelid::regclass, conname, pg_get_constraintdef(oid))
			FROM pg_constraint WHERE connamespace = 'public'::regnamespace
			UNION ALL
			SELECT format('index %s', indexdef) FROM pg_indexes WHERE schemaname = 'public'
			UNION ALL
			SELECT format('citus %s %s %s', logicalrelid, partmethod, colocationid) FROM pg_dist_partition
		) lines`)
}

func TestDjangoProjectOnCitus(t *testing.T) {
	t.Parallel()
	python := djangoPython(t)
	cdb := env.NewCitusDB(t)
	src, dst := env.NewDB(t), cdb.Coordinator
	d := djangoApp{t: t, python: python, dir: djangoProject(t)}

	// The application before the move, created and filled by Django.
	d.must(src, nil, "makemigrations", "shop")
	d.must(src, nil, "migrate")
	d.script(src, nil, "fill.py")
	srcPool := pgtest.Pool(t, src)
	maxPurchase := pgtest.Scalar[int](t, srcPool, "SELECT max(id) FROM shop_purchase")

	code, _, stderr := runCLI(t, "plan", "--source", src, "--tenant-table", "shop_store")
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stderr, "public.django_migrations           reference (django)")
	require.Contains(t, stderr, "plan --format django")

	code, _, stderr = runCLI(t, "migrate", "--source", src, "--target", dst, "--tenant-table", "shop_store", "--no-progress")
	require.Equal(t, exitOK, code, stderr)

	// The application's side: files written into the project.
	code, _, stderr = runCLI(t, "plan", "--source", src, "--tenant-table", "shop_store", "--format", "django", "--out", d.dir)
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stderr, filepath.Join(d.dir, "shop", "migrations", "0002_citus_tenant.py"))
	notes, err := os.ReadFile(filepath.Join(d.dir, "citus_django.md"))
	require.NoError(t, err)
	requireNotesMatchModels(t, string(notes), filepath.Join(d.dir, "shop", "models_citus.py"))
	// Without --out the same files go to stdout, byte for byte, every run.
	_, first, _ := runCLI(t, "plan", "--source", src, "--tenant-table", "shop_store", "--format", "django")
	_, second, _ := runCLI(t, "plan", "--source", src, "--tenant-table", "shop_store", "--format", "django")
	require.Equal(t, first, second, "the generated Python is deterministic")
	require.Contains(t, first, "# ==> citus_django.md <==\n"+string(notes))
	useModels(t, d.dir, "models_citus.py")

	// migrate on the target records the migration and changes nothing.
	sql := d.must(dst, nil, "sqlmigrate", "shop", "0002_citus_tenant")
	for _, line := range strings.Split(strings.TrimSpace(sql), "\n") {
		require.True(t, line == "BEGIN;" || line == "COMMIT;" || strings.HasPrefix(line, "--"), "sqlmigrate shows SQL:\n%s", sql)
	}
	before := catalogFingerprint(t, dst)
	out := d.must(dst, nil, "migrate")
	require.Contains(t, out, "Applying shop.0002_citus_tenant... OK")
	require.Equal(t, before, catalogFingerprint(t, dst), "the migration ran no DDL")
	out = d.must(dst, nil, "makemigrations", "--check", "--dry-run")
	require.Contains(t, out, "No changes detected")

	requireORMWorks(t, d, dst, maxPurchase)
}

// requireNotesMatchModels checks that every line models_citus.py changed
// is in the notes, as the notes write it.
func requireNotesMatchModels(t *testing.T, notes, models string) {
	t.Helper()
	b, err := os.ReadFile(models)
	require.NoError(t, err)
	for _, line := range []string{
		"store = models.ForeignKey('shop.store', on_delete=models.CASCADE, db_column='store_id', db_constraint=False)",
		"unique_together = [('store', 'id'), ('store', 'sku')]",
		"unique_together = [('store', 'id')]",
	} {
		require.Contains(t, string(b), line)
		require.Contains(t, notes, line)
	}
	for _, s := range []string{
		"Add `db_constraint=False` to ForeignKey `product`", "Drop `unique=True` from field `sku`",
		"tenant_id = 'store_id'", "save(update_fields=", "allows_group_by_selected_pks = False",
		"product__store=s", "DISABLE_SERVER_SIDE_CURSORS",
	} {
		require.Contains(t, notes, s)
	}
}

// requireORMWorks runs testdata/django/orm_checks.py on the target with
// the checklist's backend and checks each result: reads, writes with fresh
// ids, the idioms Citus refuses and their fixes, cascading deletes and the
// many-to-many add.
func requireORMWorks(t *testing.T, d djangoApp, dst string, maxPurchase int) {
	t.Helper()
	out := d.script(dst, []string{"DJANGO_DB_ENGINE=citus_backend"}, "orm_checks.py")
	var got map[string]any
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.NoError(t, json.Unmarshal([]byte(lines[len(lines)-1]), &got), out)
	num := func(k string) float64 {
		v, ok := got[k].(float64)
		require.True(t, ok, "%s: %v", k, got[k])
		return v
	}
	require.EqualValues(t, 12, num("count"))
	require.Greater(t, num("new_purchase"), float64(maxPurchase), "fresh ids past the copied ones")
	require.Greater(t, num("new_store"), float64(3))
	require.Greater(t, num("new_product"), float64(12))
	num("same_sku_other_store") // sku is unique per store now
	require.Contains(t, got["plain_save"], "modifying the partition value of rows is not allowed")
	require.Equal(t, "6.00", got["save_update_fields"])
	require.EqualValues(t, 1, num("queryset_update"))
	require.Contains(t, got["join_one_side"], "repartitioning")
	require.EqualValues(t, 4, num("join_both_sides"), "product 0 has its 3 purchases and the new one")
	require.Equal(t, []any{0.0, 3.0, 3.0, 3.0, 4.0}, got["annotate"])
	require.EqualValues(t, 3, num("m2m_add"))
	require.Equal(t, []any{3.0, 0.0}, got["delete_product"], "its 3 purchases, then none")
	require.Equal(t, []any{0.0, 0.0}, got["delete_store"])
	require.Equal(t, []any{0.0, 0.0}, got["delete_company"])

	// Without the checklist's backend, the same aggregate fails.
	_, err := d.run(dst, nil, "shell", "-c", "from django.db.models import Count\nfrom shop.models import Product\nlist(Product.objects.filter(store_id=2).annotate(n=Count('purchase')))")
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit), "annotate without the backend fails on Citus")
}
