// Command frontservice is a front service written in Go that uses the waitroom as a library.
// It links the waitroom and one dialect driver (repo/postgres), and nothing of the daemon: no
// configuration loader, no HTTP API, no metrics, no other SQL driver (deps_test.go checks it).
//
// POST /onboard registers a new correlation id, starts the onboard-user process in the engine
// with that id as its correlationId variable (with the engine's Go client,
// github.com/citilinkru/camunda-client-go/v3), and waits for the row that the worker daemon
// finishes: 200 with the payload, 422 with the process's error, 202 with the id when the wait
// runs out (the row stays PENDING: collect it later through the daemon's
// GET /process/{id}/result). The daemon, beside the engine, applies the migrations and runs the
// process's handlers on the same database.
//
//	go run ./examples/frontservice -dsn 'postgres://user:pw@localhost:5432/waitroom' \
//	    -engine http://localhost:8080/engine-rest -addr :8090
//	curl -s -X POST localhost:8090/onboard -d '{"email":"ada@example.com","name":"Ada"}'
//
// Registering a row and starting the process are two steps here, so a crash between them
// leaves a row whose process never starts, and a retry starts a second process. Where that
// matters, start through the daemon's POST /process/{key}/start instead, which starts exactly
// one process per correlation id.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	camunda "github.com/citilinkru/camunda-client-go/v3"

	"github.com/camunda-waitroom/camunda-waitroom/repo"
	"github.com/camunda-waitroom/camunda-waitroom/repo/postgres"
	"github.com/camunda-waitroom/camunda-waitroom/waitroom"
)

func main() {
	dsn := flag.String("dsn", os.Getenv("DATABASE_URL"), "PostgreSQL connection string of the process_store database")
	engine := flag.String("engine", "http://localhost:8080/engine-rest", "the engine's REST root")
	addr := flag.String("addr", ":8090", "listen address")
	owner := flag.String("owner", "", "this instance's owner name in process_store (default: host name)")
	flag.Parse()
	if err := run(*dsn, *engine, *addr, *owner); err != nil {
		log.Fatal(err)
	}
}

// processKey is the process this front service starts (processes/onboarduser in this module).
const processKey = "onboard-user"

func run(dsn, engineURL, addr, owner string) error {
	if dsn == "" {
		return errors.New("-dsn (or DATABASE_URL) is required: the PostgreSQL database the worker daemon uses")
	}
	if owner == "" {
		host, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("host name for -owner: %w", err)
		}
		owner = host
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	store, err := postgres.Open(ctx, repo.Options{Driver: repo.DriverPostgres, DSN: dsn, Owner: owner})
	if err != nil {
		return fmt.Errorf("open the store: %w", err)
	}
	defer store.Close()
	// The zero Options are the defaults (25 s waits, 40 ms polling, 1 s while LISTEN is up);
	// the postgres store's LISTEN/NOTIFY listener wakes waiters on commit.
	room, err := waitroom.New(store, waitroom.Options{})
	if err != nil {
		return err
	}
	roomDone := make(chan error, 1)
	go func() { roomDone <- room.Run(ctx) }()

	engine := camunda.NewClient(camunda.ClientOptions{EndpointUrl: engineURL, Timeout: 5 * time.Second})
	mux := http.NewServeMux()
	mux.HandleFunc("POST /onboard", func(w http.ResponseWriter, r *http.Request) {
		onboard(w, r, room, engine)
	})
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		// Stop taking requests first; the waits in flight end when the Room stops.
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Printf("listening on %s", addr)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return <-roomDone
}

// onboard registers a wait, starts the process with its id, and answers with the result.
func onboard(w http.ResponseWriter, r *http.Request, room *waitroom.Room, engine *camunda.Client) {
	var user map[string]any
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&user); err != nil {
		http.Error(w, "the body must be a JSON object of the user's fields: "+err.Error(), http.StatusBadRequest)
		return
	}
	id, err := room.Register(r.Context(), "") // a PENDING row with a new correlation id
	if err != nil {
		http.Error(w, "the process store is unavailable", http.StatusServiceUnavailable)
		return
	}
	if err := startProcess(engine, id, user); err != nil {
		log.Printf("start onboard-user for %s: %v", id, err)
		http.Error(w, "the process could not be started", http.StatusBadGateway)
		return
	}
	payload, err := room.Wait(r.Context(), id)
	var pe *waitroom.ProcessError
	switch {
	case err == nil:
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(payload)
	case errors.As(err, &pe):
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnprocessableEntity)
		_, _ = w.Write(pe.Body)
	case errors.Is(err, waitroom.ErrTimeout), errors.Is(err, waitroom.ErrClosed):
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_ = json.NewEncoder(w).Encode(map[string]string{"correlationId": id, "status": "PENDING"})
	case errors.Is(err, waitroom.ErrTooManyWaiters):
		w.Header().Set("Retry-After", "1")
		http.Error(w, "too many waits in progress", http.StatusServiceUnavailable)
	default: // the client went away
	}
}

// startProcess starts onboard-user with correlationId = id and the user's string fields as
// variables, with the engine's Go client. It takes no context: the client's Timeout bounds
// the call instead.
func startProcess(engine *camunda.Client, id string, user map[string]any) error {
	vars := map[string]camunda.Variable{"correlationId": {Value: id, Type: "String"}}
	for k, v := range user {
		if s, ok := v.(string); ok && k != "correlationId" {
			vars[k] = camunda.Variable{Value: s, Type: "String"}
		}
	}
	key := processKey
	_, err := engine.ProcessDefinition.StartInstance(camunda.QueryProcessDefinitionBy{Key: &key},
		camunda.ReqStartInstance{Variables: &vars})
	return err
}
