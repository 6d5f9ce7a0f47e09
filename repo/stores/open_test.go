package stores_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/camunda-waitroom/camunda-waitroom/migrations"
	"github.com/camunda-waitroom/camunda-waitroom/repo"
	"github.com/camunda-waitroom/camunda-waitroom/repo/repotest/pgtest"
	"github.com/camunda-waitroom/camunda-waitroom/repo/stores"
)

func TestOpenSQLiteMigrates(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "w.db")
	st, err := stores.Open(context.Background(), repo.Options{Driver: repo.DriverSQLite, DSN: path, Owner: "o1", Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rec, err := st.Create(context.Background(), "id-1")
	if err != nil || rec.Status != repo.StatusPending || rec.Owner != "o1" {
		t.Fatalf("Create = %+v, %v", rec, err)
	}
	db, err := stores.OpenDB(context.Background(), repo.DriverSQLite, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rep, err := migrations.Status(context.Background(), db, repo.DriverSQLite)
	if err != nil || rep.Current != rep.Latest || len(rep.Pending) != 0 {
		t.Fatalf("Status = %+v, %v", rep, err)
	}
}

func TestOpenPostgresMigrates(t *testing.T) {
	t.Parallel()
	dsn := pgtest.Schema(t, pgtest.DSN(t), "stores_test")
	st, err := stores.Open(context.Background(), repo.Options{Driver: repo.DriverPostgres, DSN: dsn, Owner: "o1", Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Create(context.Background(), "id-1"); err != nil {
		t.Fatal(err)
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "w.db")
	tests := []struct {
		opts repo.Options
		msg  string
	}{
		{repo.Options{Driver: "oracle", DSN: "x", Owner: "o"}, `Options.Driver "oracle"`},
		{repo.Options{Driver: repo.DriverSQLite, Owner: "o"}, "Options.DSN is empty"},
		{repo.Options{Driver: repo.DriverSQLite, DSN: path}, "Options.Owner is empty"},
		{repo.Options{Driver: repo.DriverSQLite, DSN: path, Owner: "bad owner"}, "Options.Owner"},
		// Without migrations the table is missing: Open succeeds (it only pings) and the
		// first statement says what is wrong.
	}
	for _, tt := range tests {
		st, err := stores.Open(context.Background(), tt.opts)
		if err == nil || !strings.Contains(err.Error(), tt.msg) || st != nil {
			t.Errorf("Open(%+v) = %v, %v; want an error containing %q and no store", tt.opts, st, err, tt.msg)
		}
	}
	if _, err := stores.OpenDB(context.Background(), "oracle", "x"); err == nil {
		t.Error("OpenDB(oracle) succeeded")
	}
}
