package follow_test

import (
	"testing"

	"github.com/tenantmover/tenantmover/internal/pgtest"
)

var env pgtest.Env

func TestMain(m *testing.M) { env.Main(m, pgtest.WithCitus()) }
