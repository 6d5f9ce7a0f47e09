package waitroom_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/camunda-waitroom/camunda-waitroom/migrations"
	"github.com/camunda-waitroom/camunda-waitroom/repo"
	"github.com/camunda-waitroom/camunda-waitroom/repo/sqlite"
	"github.com/camunda-waitroom/camunda-waitroom/waitroom"
)

// A front service on SQLite: register a wait, start the process, wait for its result. Here
// the "worker" writes through the bare store, as another process would, so the dispatcher's
// batched poll is what wakes the waiter.
func Example_sqlite() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "waitroom-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	store, err := sqlite.Open(ctx, repo.Options{Driver: repo.DriverSQLite, DSN: filepath.Join(dir, "waitroom.db"), Owner: "front-1"})
	if err != nil {
		panic(err)
	}
	defer store.Close()
	if err := migrations.Up(ctx, store.DB(), repo.DriverSQLite); err != nil {
		panic(err)
	}

	room, err := waitroom.New(store, waitroom.Options{Timeout: 5 * time.Second, PollInterval: 20 * time.Millisecond})
	if err != nil {
		panic(err)
	}
	if err := room.Start(ctx); err != nil {
		panic(err)
	}
	defer room.Stop(ctx)

	// POST /process: register (a new id), start the Camunda process with it, then wait.
	id, err := room.Register(ctx, "")
	if err != nil {
		panic(err)
	}
	go func() { // the worker daemon, finishing the process
		_, _ = store.Complete(ctx, id, json.RawMessage(`{"userId":42}`))
	}()
	payload, err := room.Wait(ctx, id)
	fmt.Println("payload:", string(payload), err)

	// A process that ends in error: Wait returns a *ProcessError carrying the error body.
	id, _ = room.Register(ctx, "order-7")
	go func() { _, _ = store.Fail(ctx, id, json.RawMessage(`{"error":"rejected"}`)) }()
	_, err = room.Wait(ctx, id)
	var pe *waitroom.ProcessError
	if errors.As(err, &pe) {
		fmt.Println("failed:", pe.CorrelationID, string(pe.Body))
	}

	// A wait that outlives its deadline: the row stays PENDING, to be collected later.
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	_, _, err = room.Await(short, "slow-1")
	pending, _ := room.HasPending(ctx, "slow-1")
	fmt.Println(err, "- still pending:", pending)
	// Output:
	// payload: {"userId":42} <nil>
	// failed: order-7 {"error":"rejected"}
	// context deadline exceeded - still pending: true
}

// A front service on PostgreSQL, with LISTEN/NOTIFY: the postgres store has a listener, which
// the Room uses unless Options.PollOnly is set, so completions wake waiters in milliseconds; polling
// drops to Options.NotifyPollInterval as the safety net. It needs
// WAITROOM_TEST_PG_DSN (a migrated database), so it is compiled but not run.
func Example_postgres() {
	ctx := context.Background()
	dsn := os.Getenv("WAITROOM_TEST_PG_DSN")
	store, err := openPostgres(ctx, dsn, "front-1")
	if err != nil {
		panic(err)
	}
	defer store.Close()

	cfg := waitroom.Options{Timeout: 25 * time.Second, PollInterval: 50 * time.Millisecond,
		NotifyPollInterval: time.Second, MaxWaiters: 10000}
	room, err := waitroom.New(store, cfg)
	if err != nil {
		panic(err)
	}
	if err := room.Start(ctx); err != nil {
		panic(err)
	}
	defer room.Stop(ctx)

	id, payload, err := room.Await(ctx, "") // register + wait; another replica completes it
	switch {
	case errors.Is(err, waitroom.ErrTimeout):
		fmt.Println("202 Accepted, poll /process/" + id)
	case err != nil:
		fmt.Println("failed:", err)
	default:
		fmt.Println("200 OK", string(payload))
	}
}
