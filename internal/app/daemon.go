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
	"github.com/camunda-waitroom/camunda-waitroom/internal/camunda"
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
// external-task runtime; the HTTP API; then every component runs at once (the deployment of
// the embedded models in the background: the engine may still be starting).
//
// The stop order is declared once, below, by the order of the stages in the group (see
// stopGroup): each stage stops after the ones above it, and those marked "waits" hold the
// stages below them until they have stopped. The whole stop takes at most
// camunda.shutdownTimeout + stopSlack, whatever the engine or the clients do.
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
	// refuses is not counted as a store call. The store closes last, once every stage of the
	// group below has stopped.
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
	roomCfg := roomOptions(cfg)
	roomCfg.StopTimeout = roomStopTimeout
	room, err := waitroom.New(store, roomCfg, roomOpts...)
	if err != nil {
		return fmt.Errorf("waitroom: %w", err)
	}

	reg := topics.NewRegistry()
	processes.RegisterAll(reg, room)
	topicsLog := logging.Component(log, "topics")
	rt, err := topics.New(topicsOptions(cfg), subscriptions(cfg), reg, topics.Deps{Log: log}, log, topics.WithMetrics(m))
	if err != nil {
		return err
	}

	hc, err := topics.NewHTTPClient(topicsOptions(cfg))
	if err != nil {
		return err
	}
	var fo *topics.Failover
	if cfg.Failover.Enabled {
		fo, err = topics.NewFailover(topicsOptions(cfg), failoverOptions(cfg), heartbeats{store}, log, topics.WithHTTPClient(hc), topics.WithMetrics(m))
		if err != nil {
			return err
		}
	}
	var job *retention.Job
	if cfg.Retention.Enabled {
		job, err = retention.New(store, retentionOptions(cfg), logging.Component(log, "retention"))
		if err != nil {
			return err
		}
	}
	httpLog := logging.Component(log, "http")
	migrated := &migrationCheck{cfg: cfg}
	defer migrated.close()
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
	apiCfg := apiOptions(cfg)
	if len(apiCfg.Startable) == 0 {
		apiCfg.Startable = processes.Keys()
	}
	apiCfg.Waitroom = httpapi.RoomWaitroom(room)
	apiCfg.Store = store
	apiCfg.Starter = &httpapi.EngineStarter{
		BaseURL:   cfg.Camunda.URL,
		Client:    hc,
		Authorize: camunda.Authorize(engineConfig(cfg).Auth),
		Timeout:   cfg.HTTP.StartTimeout,
		TenantID:  cfg.Camunda.TenantID,
	}
	apiCfg.StartGate = deployed.check
	// Each check is a bounded live call: the store's ping goes through the breaker (and is
	// its half-open trial), the engine's is GET /version (see topics.CheckEngine).
	apiCfg.Ready = map[string]httpapi.Check{
		"store":      func(ctx context.Context) error { return br.Check(ctx, store) },
		"migrations": migrated.check,
		"engine":     rt.CheckEngine,
		"models":     func(context.Context) error { return deployed.check() },
	}
	apiCfg.Redact = cfg.Scrub
	apiCfg.Registerer, apiCfg.Gatherer = m.Registry, m.Registry
	apiCfg.Log = httpLog
	api, err := httpapi.New(apiCfg)
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

	// The stop order, top to bottom.
	g := newStopGroup(log, cfg.Camunda.ShutdownTimeout+stopSlack)
	// 1. The signal: SIGTERM or SIGINT ends ctx, which begins the stop and fixes its deadline.
	g.add(ctx, "signal", false, func(stop context.Context) error {
		select {
		case <-ctx.Done():
		case <-stop.Done():
		}
		return nil
	})
	// 2. The HTTP listener closes (waits): no new requests. Shutdown also waits for the
	// requests in flight, and the HTTP waits among them end only when the waitroom stops
	// (6), so it runs on in the background until the deadline; stage 7 collects it.
	shutdown := make(chan error, 1)
	g.add(ctx, "http listener", true, func(stop context.Context) error {
		served := make(chan error, 1)
		go func() {
			httpLog.Info("listening", zap.String("addr", ln.Addr().String()))
			served <- srv.Serve(ln)
		}()
		var err error
		select {
		case err = <-served: // it failed: the group stops
		case <-stop.Done():
		}
		go func() {
			sctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), g.stopDeadline())
			defer cancel()
			shutdown <- srv.Shutdown(sctx)
		}()
		if err == nil {
			err = <-served // Serve returns once Shutdown has closed the listener
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http: %w", err)
		}
		return nil
	})
	// 3. The background work stops at once: the deployment of the embedded models (retried
	// while the engine is unreachable), the warning about other deployments' workers on our
	// topics, and retention.
	if cfg.Camunda.DeployOnStart {
		g.add(ctx, "deployment", false, func(stop context.Context) error {
			if deployModels(stop, cfg, topicsLog) {
				deployed.done.Store(true)
			}
			<-stop.Done()
			return nil
		})
	}
	g.add(ctx, "shared-topics check", false, func(stop context.Context) error {
		rt.WarnSharedTopics(stop)
		<-stop.Done()
		return nil
	})
	if job != nil {
		g.add(ctx, "retention", false, job.Run)
	}
	// 4. The runtime (waits): no new poll; running handlers finish within
	// camunda.shutdownTimeout, then are cancelled and their tasks unlocked; its last engine
	// calls take at most about a second more (topics.Runtime.Run). Their completions still
	// wake local waiters, since the waitroom stops after it.
	g.add(ctx, "runtime", true, rt.Run)
	// 5. Failover, after the runtime: this replica beats while its handlers drain. Its last
	// act, deleting its heartbeat (within a second), overlaps the stages below.
	if fo != nil {
		g.add(ctx, "failover", false, fo.Run)
	}
	// 6. The waitroom (waits): clears this instance's PENDING rows if waitroom.clearOnShutdown,
	// then wakes the remaining waits, whose HTTP requests answer 202 with the result's
	// location; within roomStopTimeout.
	g.add(ctx, "waitroom", true, room.Run)
	// 7. The HTTP requests (waits): the answers of 6 are written; at the deadline the
	// connections still open are closed.
	g.add(ctx, "http requests", true, func(stop context.Context) error {
		<-stop.Done()
		if err := <-shutdown; err != nil {
			httpLog.Warn("HTTP requests still running at the shutdown deadline; closing their connections", logging.Err(err))
			_ = srv.Close()
		}
		return nil
	})
	// 8. The store closes when Run returns (deferred above).
	return g.run()
}

// deployGate is the start gate and /readyz check of the embedded models' deployment.
type deployGate struct{ done atomic.Bool }

func (d *deployGate) check() error {
	if d.done.Load() {
		return nil
	}
	return errors.New("the embedded process models are not deployed to the engine yet (camunda.deployOnStart)")
}

// stopSlack is what the daemon's stop may take beyond camunda.shutdownTimeout, stage by stage
// (see Run): the runtime's last unlocks and reports (about a second, see topics.Runtime.Run),
// then the waitroom's stop (roomStopTimeout), then the answers of the HTTP waits it ends.
const stopSlack = 1750 * time.Millisecond

// roomStopTimeout bounds the waitroom's stop (waitroom.Options.StopTimeout): its database work
// is one UPDATE of this replica's PENDING rows and one read of the awaited ones, and it must
// leave time within stopSlack for the HTTP answers after it.
const roomStopTimeout = 500 * time.Millisecond

// deployModels deploys the embedded BPMN models, retrying with backoff while the engine is
// unreachable (logged once per streak), until it succeeds (true) or ctx ends (false).
func deployModels(ctx context.Context, cfg *config.Config, log *zap.Logger) bool {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = cfg.Camunda.PollBackoff.Initial
	b.MaxInterval = cfg.Camunda.PollBackoff.Max
	failing := false
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		d, err := processes.Deploy(ctx, topicsOptions(cfg))
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
