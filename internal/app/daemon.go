package app

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"go.uber.org/zap"

	"github.com/camunda-waitroom/camunda-waitroom/config"
	"github.com/camunda-waitroom/camunda-waitroom/internal/breaker"
	"github.com/camunda-waitroom/camunda-waitroom/internal/fault"
	"github.com/camunda-waitroom/camunda-waitroom/internal/httpapi"
	"github.com/camunda-waitroom/camunda-waitroom/internal/logging"
	"github.com/camunda-waitroom/camunda-waitroom/internal/metrics"
	"github.com/camunda-waitroom/camunda-waitroom/internal/retention"
	"github.com/camunda-waitroom/camunda-waitroom/migrations"
	"github.com/camunda-waitroom/camunda-waitroom/processes"
	"github.com/camunda-waitroom/camunda-waitroom/repo"
	"github.com/camunda-waitroom/camunda-waitroom/repo/mssql"
	"github.com/camunda-waitroom/camunda-waitroom/repo/stores"
	"github.com/camunda-waitroom/camunda-waitroom/topics"
	"github.com/camunda-waitroom/camunda-waitroom/waitroom"
	"golang.org/x/sync/errgroup"
)

// runDaemon is `worker run`: load the configuration, then start and stop the components in
// order (see Daemon.Run).
func runDaemon(ctx context.Context, load func() (*config.Config, config.Source, error), stderr io.Writer) error {
	cfg, src, err := load()
	if err != nil {
		return err
	}
	// Every log line passes through a scrubber of the configuration's secrets: structured
	// fields are redacted where they are logged, but an error from a driver or library may
	// quote a connection string.
	log, err := newLogger(cfg, logging.Scrubbing(stderr, cfg.Scrubber()))
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
		zap.String("store", cfg.RedactedStoreDSN()),
		zap.String("camunda_url", config.RedactDSN(cfg.Camunda.URL)),
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

// Run runs the daemon until ctx is cancelled.
//
// Start order: metrics; the store (waiting for the database, migrating); the waitroom; the
// external-task runtime (and, in the background, the deployment of the embedded models); the
// HTTP API; the retention job.
//
// Stop order, when ctx is cancelled: the HTTP listener closes (no new requests) while the
// runtime stops fetching and lets running handlers finish, so their completions still wake
// local waiters; then the waitroom stops (clearing this instance's rows if configured) and
// wakes the remaining HTTP waits, which answer 202 with the result's location; then the HTTP
// server finishes; the store closes last.
func Run(ctx context.Context, cfg *config.Config, log *zap.Logger) error {
	m := metrics.New()
	storeLog := logging.Component(log, "store")
	raw, err := openStore(ctx, cfg, storeLog)
	if err != nil {
		return err
	}
	br := breaker.New(breaker.Settings{Failures: cfg.Store.BreakerFailures, OpenFor: cfg.Store.BreakerOpenFor}, storeLog)
	m.WatchBreaker(br)
	topicNames := make([]string, len(cfg.Topics))
	for i, t := range cfg.Topics {
		topicNames[i] = t.Name
	}
	m.InitSeries(topicNames)
	// Every store call goes through the breaker, then metrics: a call the open circuit
	// refuses is not counted as a store call.
	store := repo.Wrap(raw, br.Intercept, m.InterceptStore)
	defer func() {
		if err := store.Close(); err != nil {
			storeLog.Warn("close store", logging.Err(err))
		}
	}()

	// The waitroom takes the store's listener from the store itself (the postgres store has
	// one; the breaker and metrics wrappers pass it through), used while waitroom.notify is set.
	roomOpts := []waitroom.Option{
		waitroom.WithLogger(logging.Component(log, "waitroom")),
		waitroom.WithMetrics(m),
	}
	room, err := waitroom.New(store, cfg.Waitroom, roomOpts...)
	if err != nil {
		return fmt.Errorf("waitroom: %w", err)
	}

	reg := topics.NewRegistry()
	processes.RegisterAll(reg)
	topicsLog := logging.Component(log, "topics")
	rt, err := topics.New(cfg.Camunda, cfg.Topics, reg, topics.Deps{Finisher: room, Log: log}, log, topics.WithMetrics(m))
	if err != nil {
		return err
	}

	hc, err := topics.NewHTTPClient(cfg.Camunda)
	if err != nil {
		return err
	}
	httpLog := logging.Component(log, "http")
	migrated := &migrationCheck{cfg: cfg}
	defer migrated.close()
	startable := cfg.HTTP.StartableProcesses
	if len(startable) == 0 {
		startable = processes.Keys()
	}
	// Until the embedded models are deployed (camunda.deployOnStart, in the background), a
	// start would find no definition and fail its row for good: refuse it with 503 instead,
	// before anything is written.
	deployed := &deployGate{}
	if !cfg.Camunda.DeployOnStart {
		deployed.done.Store(true)
	}
	if fault.Enabled {
		log.Warn("fault injection is compiled in (build tag faultinject): a test build, never for production", zap.String("env", fault.EnvKill))
	}
	api, err := httpapi.New(httpapi.Config{
		Waitroom: httpapi.RoomWaitroom(room),
		Store:    store,
		Starter: &httpapi.EngineStarter{
			BaseURL:   cfg.Camunda.URL,
			Client:    hc,
			Authorize: topics.Authorize(cfg.Camunda.Auth),
			Timeout:   cfg.HTTP.StartTimeout,
			TenantID:  cfg.Camunda.TenantID,
		},
		Startable:           startable,
		StartLease:          cfg.HTTP.StartLease,
		StartTimeout:        cfg.HTTP.StartTimeout,
		StartGate:           deployed.check,
		WaitTimeout:         cfg.Waitroom.Timeout,
		MaxResultWait:       cfg.Waitroom.Timeout,
		CorrelationVariable: config.DefaultCorrelationVariable,
		AuthToken:           cfg.HTTP.AuthToken,
		MetricsAuth:         cfg.HTTP.MetricsAuth,
		MaxBodyBytes:        int64(cfg.HTTP.MaxBodyBytes),
		// Each check is a bounded live call: the store's ping goes through the breaker (and is
		// its half-open trial), the engine's is GET /version (see topics.CheckEngine).
		Ready: map[string]httpapi.Check{
			"store":      func(ctx context.Context) error { return br.Check(ctx, store) },
			"migrations": migrated.check,
			"engine":     rt.CheckEngine,
			"models":     func(context.Context) error { return deployed.check() },
		},
		Redact:     cfg.Scrub,
		Registerer: m.Registry,
		Gatherer:   m.Registry,
		Log:        httpLog,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.HTTP.Addr)
	if err != nil {
		return fmt.Errorf("http.addr %s: %w", cfg.HTTP.Addr, err)
	}
	srv := &http.Server{
		Handler:           api,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       cfg.HTTP.ReadTimeout,
		WriteTimeout:      cfg.HTTP.WriteTimeout,
		IdleTimeout:       90 * time.Second,
		ErrorLog:          zap.NewStdLog(httpLog),
	}

	if err := room.Start(ctx); err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	// The runtime: fetch, handle, report; drains on stop.
	rtDone := make(chan struct{})
	g.Go(func() error {
		defer close(rtDone)
		return rt.Run(gctx)
	})
	// Once the engine answers, warn if another deployment's workers hold tasks on our topics.
	g.Go(func() error { rt.WarnSharedTopics(gctx); return nil })
	// Deploy the embedded models in the background: the engine may still be starting.
	if cfg.Camunda.DeployOnStart {
		g.Go(func() error {
			if deployModels(gctx, cfg, topicsLog) {
				deployed.done.Store(true)
			}
			return nil
		})
	}
	// Failover: beat, and unlock the engine tasks of replicas whose beats stopped. It stops
	// after the runtime, so this replica beats while its handlers drain.
	if cfg.Failover.Enabled {
		fo, err := topics.NewFailover(cfg.Camunda, cfg.Failover, store, log, topics.WithHTTPClient(hc), topics.WithMetrics(m))
		if err != nil {
			return err
		}
		foCtx, stopFO := context.WithCancel(context.WithoutCancel(ctx))
		go func() { <-rtDone; stopFO() }()
		g.Go(func() error { defer stopFO(); return fo.Run(foCtx) })
	}
	// The HTTP API.
	g.Go(func() error {
		httpLog.Info("listening", zap.String("addr", ln.Addr().String()))
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http: %w", err)
		}
		return nil
	})
	// Retention.
	if cfg.Retention.Enabled {
		job := retention.New(store, cfg.Retention, logging.Component(log, "retention"))
		g.Go(func() error { return job.Run(gctx) })
	}
	// Shutdown coordinator. Every stage is bounded by one deadline, shutdownTimeout plus
	// stopSlack after the signal, whatever the engine or the clients do.
	g.Go(func() error {
		<-gctx.Done()
		stopAt := time.Now().Add(cfg.Camunda.ShutdownTimeout + stopSlack)
		log.Info("stopping", zap.Duration("within", cfg.Camunda.ShutdownTimeout+stopSlack))
		base := context.WithoutCancel(ctx)
		srvDone := make(chan error, 1)
		go func() {
			// Closes the listener at once; waits for requests in flight, which the waitroom's
			// stop below answers (202) if they still wait.
			sctx, cancel := context.WithDeadline(base, stopAt)
			defer cancel()
			srvDone <- srv.Shutdown(sctx)
		}()
		<-rtDone // within shutdownTimeout + about a second (topics.Runtime.Run)
		rctx, cancel := context.WithDeadline(base, stopAt.Add(-roomStopReserve))
		defer cancel()
		if err := room.Stop(rctx); err != nil {
			log.Warn("waitroom stop", logging.Err(err))
		}
		if err := <-srvDone; err != nil {
			log.Warn("HTTP requests still running at the shutdown deadline; closing their connections", logging.Err(err))
			_ = srv.Close()
		}
		return nil
	})
	return g.Wait()
}

// deployGate is the start gate and /readyz check of the embedded models' deployment.
type deployGate struct{ done atomic.Bool }

func (d *deployGate) check() error {
	if d.done.Load() {
		return nil
	}
	return errors.New("the embedded process models are not deployed to the engine yet (camunda.deployOnStart)")
}

// stopSlack is what the daemon's stop may take beyond camunda.shutdownTimeout: the runtime's
// last unlocks and reports (about a second, see topics.Runtime.Run), then the waitroom's stop
// and the answers of the HTTP waits it ends.
const stopSlack = 1750 * time.Millisecond

// roomStopReserve is kept, from the stop deadline, for the HTTP answers after the waitroom
// stops.
const roomStopReserve = 250 * time.Millisecond

// deployModels deploys the embedded BPMN models, retrying with backoff while the engine is
// unreachable (logged once per streak), until it succeeds (true) or ctx ends (false).
func deployModels(ctx context.Context, cfg *config.Config, log *zap.Logger) bool {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = cfg.Camunda.PollBackoff.Initial
	b.MaxInterval = cfg.Camunda.PollBackoff.Max
	failing := false
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		d, err := processes.Deploy(ctx, cfg.Camunda)
		if err != nil {
			if ctx.Err() != nil {
				return struct{}{}, backoff.Permanent(err)
			}
			if !failing {
				log.Warn("deploying the embedded models failed; retrying", logging.Err(err))
			}
			failing = true
			return struct{}{}, err
		}
		log.Info("embedded models deployed", zap.String("deployment_id", d.ID), zap.Int("new_definitions", len(d.DeployedProcessDefinitions)))
		return struct{}{}, nil
	}, backoff.WithBackOff(b), backoff.WithMaxElapsedTime(0))
	return err == nil
}

// migrationCheck is the /readyz check that the schema is at the latest migration. Once it
// is, it stays so (migrations only add), and the check stops querying.
type migrationCheck struct {
	cfg  *config.Config
	mu   sync.Mutex
	db   *sql.DB
	done bool
}

func (c *migrationCheck) check(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return nil
	}
	if c.db == nil {
		db, err := stores.OpenDB(ctx, c.cfg.Store.Driver, c.cfg.StoreDSN())
		if err != nil {
			return fmt.Errorf("open: %w", err)
		}
		db.SetMaxOpenConns(1)
		c.db = db
	}
	st, err := migrations.Status(ctx, c.db, c.cfg.Store.Driver)
	if err != nil {
		return err
	}
	if st.Dirty || st.Current < st.Latest {
		return fmt.Errorf("schema at version %d of %d (dirty %t): run 'worker migrate up'", st.Current, st.Latest, st.Dirty)
	}
	c.done = true
	_ = c.db.Close()
	c.db = nil
	return nil
}

func (c *migrationCheck) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.db != nil {
		_ = c.db.Close()
	}
}

// migrateUp is migrations.Up; a test replaces it to see the deadline openStore gives it.
var migrateUp = migrations.Up

// openStore opens the configured store: it waits for the database with capped exponential
// backoff for at most store.connectTimeout (each attempt bounded to 10 s), logging why it
// waits, and checks it (SQL Server: the compatibility level, before any DDL); then, when
// store.migrateOnStart is set, it applies the migrations under store.migrateTimeout, a
// deadline of their own: a migration cut off by the open's deadline would leave its version
// dirty and stop every replica.
func openStore(ctx context.Context, cfg *config.Config, log *zap.Logger) (repo.Store, error) {
	opts := repo.Options{
		Driver:       cfg.Store.Driver,
		DSN:          cfg.StoreDSN(),
		Owner:        cfg.Instance.ID,
		MaxBodyBytes: cfg.Store.MaxBodyBytes,
	}
	where := cfg.RedactedStoreDSN()
	attempt := 0
	var db *sql.DB
	open := func() (repo.Store, error) {
		attempt++
		octx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		var err error
		if db == nil {
			if db, err = stores.OpenDB(octx, opts.Driver, opts.DSN); err != nil {
				return nil, waitErr(log, attempt, where, "open", err)
			}
			if opts.Driver != repo.DriverSQLite { // the sqlite store sizes its own pool
				db.SetMaxOpenConns(cfg.Store.MaxOpenConns)
			}
		}
		s, err := stores.New(octx, db, opts)
		if err != nil {
			return nil, waitErr(log, attempt, where, "check", err)
		}
		return s, nil
	}
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 500 * time.Millisecond
	b.MaxInterval = 10 * time.Second
	s, err := backoff.Retry(ctx, open, backoff.WithBackOff(b), backoff.WithMaxElapsedTime(cfg.Store.ConnectTimeout))
	if err != nil {
		if db != nil {
			_ = db.Close()
		}
		return nil, fmt.Errorf("store %s (%s) not usable after %s: %w", cfg.Store.Driver, where, cfg.Store.ConnectTimeout, err)
	}
	if cfg.Store.MigrateOnStart {
		start := time.Now()
		log.Info("applying migrations", zap.Duration("timeout", cfg.Store.MigrateTimeout))
		mctx, cancel := context.WithTimeout(ctx, cfg.Store.MigrateTimeout)
		err := migrateUp(mctx, db, cfg.Store.Driver)
		cancel()
		if err != nil {
			_ = s.Close()
			return nil, fmt.Errorf("store.migrateOnStart: migrations on %s (%s) failed after %s (store.migrateTimeout %s): %w",
				cfg.Store.Driver, where, time.Since(start).Round(time.Millisecond), cfg.Store.MigrateTimeout, err)
		}
		log.Info("migrations applied", zap.Duration("took", time.Since(start)))
	}
	fields := []zap.Field{zap.String("driver", cfg.Store.Driver), zap.Int("attempts", attempt)}
	if ms, ok := s.(*mssql.Store); ok {
		set := ms.Settings()
		fields = append(fields, zap.Int("compatibility_level", set.CompatibilityLevel),
			zap.Bool("read_committed_snapshot", set.ReadCommittedSnapshot),
			zap.String("id_collation", set.IDCollation), zap.Bool("id_case_insensitive", set.IDCaseInsensitive))
	}
	log.Info("store ready", fields...)
	return s, nil
}

// waitErr logs why start-up is still waiting for the database. Configuration mistakes the
// database reports (bad DSN syntax) and a database the store cannot run on (a SQL Server
// compatibility level below 130) are not retried.
func waitErr(log *zap.Logger, attempt int, where, step string, err error) error {
	if errors.Is(err, repo.ErrInvalidArgument) || errors.Is(err, repo.ErrUnsupportedDatabase) {
		return backoff.Permanent(err)
	}
	log.Warn("waiting for the database", zap.String("step", step), zap.String("store", where), zap.Int("attempt", attempt), logging.Err(err))
	return err
}
