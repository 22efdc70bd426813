package main

import (
	"testing"

	"github.com/tenantmover/tenantmover/internal/pgtest"
)

// env is the package's test servers, shared by every command's tests: a
// plain PostgreSQL, and a Citus cluster when Citus is installed.
var env pgtest.Env

func TestMain(m *testing.M) { env.Main(m, pgtest.WithCitus()) }
