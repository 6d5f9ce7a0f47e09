package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/cenkalti/backoff/v5"
	"go.uber.org/zap"

	"github.com/camunda-waitroom/camunda-waitroom/config"
	"github.com/camunda-waitroom/camunda-waitroom/internal/logging"
	"github.com/camunda-waitroom/camunda-waitroom/repo"
	"github.com/camunda-waitroom/camunda-waitroom/repo/stores"
)

// runDaemon is `worker run`: load the configuration, then start and stop the components in
// order (see Daemon.Run).
func runDaemon(ctx context.Context, load func() (*config.Config, config.Source, error), stderr io.Writer) error {
	cfg, src, err := load()
	if err != nil {
		return err
	}
	log, err := newLogger(cfg, stderr)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	from := src.File
	if from == "" {
		from = "built-in defaults"
	}
	log.Info("starting",
		zap.String("version", versionString()),
		zap.String("config", from),
		zap.String("store_driver", cfg.Store.Driver),
		zap.String("store", config.RedactDSN(cfg.StoreDSN())),
		zap.String("camunda_url", cfg.Camunda.URL),
		zap.String(logging.KeyWorkerID, cfg.Camunda.WorkerID),
	)
	err = Run(ctx, cfg, log)
	if err != nil {
		log.Error("stopped with an error", logging.Err(err))
		return err
	}
	log.Info("stopped")
	return nil
}

// Run runs the daemon until ctx is cancelled. Start order: the store (waiting for the
// database), migrations, then the components; stop order is the reverse.
func Run(ctx context.Context, cfg *config.Config, log *zap.Logger) error {
	storeLog := logging.Component(log, "store")
	store, err := openStore(ctx, cfg, storeLog)
	if err != nil {
		return err
	}
	defer func() {
		if err := store.Close(); err != nil {
			storeLog.Warn("close store", logging.Err(err))
		}
	}()

	<-ctx.Done()
	return nil
}

// openStore opens the configured store, waiting for the database with capped exponential
// backoff for at most store.connectTimeout and logging why it waits, then applies migrations
// when store.migrateOnStart is set.
func openStore(ctx context.Context, cfg *config.Config, log *zap.Logger) (repo.Store, error) {
	opts := repo.Options{
		Driver:       cfg.Store.Driver,
		DSN:          cfg.StoreDSN(),
		Owner:        cfg.Instance.ID,
		MaxBodyBytes: cfg.Store.MaxBodyBytes,
		Migrate:      cfg.Store.MigrateOnStart,
	}
	where := config.RedactDSN(opts.DSN)
	attempt := 0
	open := func() (repo.Store, error) {
		attempt++
		octx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		s, err := stores.Open(octx, opts)
		if err != nil {
			return nil, waitErr(log, attempt, where, "open", err)
		}
		if err := s.Ping(octx); err != nil {
			_ = s.Close()
			return nil, waitErr(log, attempt, where, "ping", err)
		}
		return s, nil
	}
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 500 * time.Millisecond
	b.MaxInterval = 10 * time.Second
	s, err := backoff.Retry(ctx, open, backoff.WithBackOff(b), backoff.WithMaxElapsedTime(cfg.Store.ConnectTimeout))
	if err != nil {
		return nil, fmt.Errorf("store %s (%s) not usable after %s: %w", cfg.Store.Driver, where, cfg.Store.ConnectTimeout, err)
	}
	log.Info("store ready", zap.String("driver", cfg.Store.Driver), zap.Int("attempts", attempt))
	return s, nil
}

// waitErr logs why start-up is still waiting for the database. Configuration mistakes the
// database reports (bad DSN syntax) are not retried.
func waitErr(log *zap.Logger, attempt int, where, step string, err error) error {
	if errors.Is(err, repo.ErrInvalidArgument) {
		return backoff.Permanent(err)
	}
	log.Warn("waiting for the database", zap.String("step", step), zap.String("store", where), zap.Int("attempt", attempt), logging.Err(err))
	return err
}
