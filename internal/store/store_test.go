package store_test

import (
	"testing"

	"github.com/vigil-sec/vigil/internal/store/storetest"
)

func TestSQLite(t *testing.T) {
	storetest.Run(t, storetest.SQLite)
}

func TestPostgres(t *testing.T) {
	storetest.Postgres(t) // skips (or fails under CI=true) before running the suite when unreachable
	storetest.Run(t, storetest.Postgres)
}
