// Package pgtest gives PostgreSQL tests their database: the DSN from WAITROOM_TEST_PG_DSN
// (skipping, or failing under CI=true, when it is unset) and a fresh schema per test binary,
// so parallel and repeated runs never see each other's rows.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

// EnvDSN names the environment variable holding the test database's DSN.
const EnvDSN = "WAITROOM_TEST_PG_DSN"

// DSN returns the test database's DSN. When it is unset the test is skipped, with how to set
// it, or fails when CI=true, where PostgreSQL tests were expected to run.
func DSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(EnvDSN)
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("WAITROOM_TEST_PG_DSN is not set but CI=true: PostgreSQL tests were expected")
		}
		t.Skip("WAITROOM_TEST_PG_DSN not set: PostgreSQL tests skipped; run `eval \"$(bash scripts/postgres.sh env)\"` to start PostgreSQL and set it")
	}
	return dsn
}

// NewSchema creates a schema with a random name (prefix_<hex>) and returns dsn with its
// search_path set to it, and a function that drops the schema and everything in it.
func NewSchema(ctx context.Context, dsn, prefix string) (schemaDSN string, drop func() error, err error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, err
	}
	schema := prefix + "_" + hex.EncodeToString(b[:])
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return "", nil, err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE SCHEMA `+schema); err != nil {
		return "", nil, fmt.Errorf("create schema %s: %w", schema, err)
	}
	schemaDSN, err = WithSearchPath(dsn, schema)
	if err != nil {
		return "", nil, err
	}
	drop = func() error {
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			return err
		}
		defer db.Close()
		_, err = db.ExecContext(context.Background(), `DROP SCHEMA IF EXISTS `+schema+` CASCADE`)
		return err
	}
	return schemaDSN, drop, nil
}

// Schema is NewSchema for one test: the schema is dropped when the test ends.
func Schema(t testing.TB, dsn, prefix string) string {
	t.Helper()
	schemaDSN, drop, err := NewSchema(context.Background(), dsn, prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := drop(); err != nil {
			t.Errorf("drop test schema: %v", err)
		}
	})
	return schemaDSN
}

// WithSearchPath sets search_path in a URL (postgres://...) or keyword/value DSN.
func WithSearchPath(dsn, schema string) (string, error) {
	if strings.Contains(dsn, "://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("parse %s: %w", EnvDSN, err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	return dsn + " search_path=" + schema, nil
}
