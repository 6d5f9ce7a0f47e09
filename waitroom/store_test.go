package waitroom

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/camunda-waitroom/camunda-waitroom/migrations"
	"github.com/camunda-waitroom/camunda-waitroom/repo"
	"github.com/camunda-waitroom/camunda-waitroom/repo/postgres"
	"github.com/camunda-waitroom/camunda-waitroom/repo/sqlite"
)

// openStore opens the driver's store on dsn as owner, applying the migrations.
func openStore(ctx context.Context, driver, dsn, owner string) (repo.Store, error) {
	opts := repo.Options{Driver: driver, DSN: dsn, Owner: owner}
	var (
		s   repo.Store
		db  *sql.DB
		err error
	)
	switch driver {
	case repo.DriverSQLite:
		var ss *sqlite.Store
		if ss, err = sqlite.Open(ctx, opts); err == nil {
			s, db = ss, ss.DB()
		}
	case repo.DriverPostgres:
		var ps *postgres.Store
		if ps, err = postgres.Open(ctx, opts); err == nil {
			s, db = ps, ps.DB()
			db.SetMaxOpenConns(10)
		}
	default:
		err = fmt.Errorf("unknown driver %q", driver)
	}
	if err != nil {
		return nil, err
	}
	if err := migrations.Up(ctx, db, driver); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}
