// Package faultsuite is the fault suite of the daemon, in its tests only: it builds the worker
// binary with fault injection (go build -tags faultinject), starts a Camunda engine of its own
// (dev/camunda, on a file database so that it can be restarted), uses PostgreSQL (a schema of
// its own in WAITROOM_TEST_PG_DSN's database), runs three worker OS processes on 127.0.0.1
// with the shipped configuration, and drives them with bounded, self-stopping client loops
// that retry as a front service would (same correlation id, another replica after a
// connection error, Retry-After after a 503).
//
// Scenarios: concurrent duplicate starts; kill -9 at each step of the start protocol; kill -9
// of a replica under load, then its restart; the engine restarted under load; PostgreSQL
// connections terminated under load. After each one it checks that every request got its
// final answer (200, or 422 for the requests built to fail), every row is DONE or ERROR once,
// each id has exactly one process instance and one successful result task, no incident was
// raised, and no task is left locked.
//
// Run it alone, with its figures in the log:
//
//	go test -count=1 -v -run TestFaults ./internal/faultsuite
//
// `make test` runs it with the rest (it skips under -short).
package faultsuite
