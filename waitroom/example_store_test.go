package waitroom_test

import (
	"context"

	"github.com/camunda-waitroom/camunda-waitroom/migrations"
	"github.com/camunda-waitroom/camunda-waitroom/repo"
	"github.com/camunda-waitroom/camunda-waitroom/repo/postgres"
)

// openPostgres opens the postgres store on dsn as owner and migrates it.
func openPostgres(ctx context.Context, dsn, owner string) (repo.Store, error) {
	s, err := postgres.Open(ctx, repo.Options{Driver: repo.DriverPostgres, DSN: dsn, Owner: owner})
	if err != nil {
		return nil, err
	}
	if err := migrations.Up(ctx, s.DB(), repo.DriverPostgres); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}
