// Package topics is the Camunda 7 external-task runtime: subscriptions (Topic), one
// fetch-and-lock long poll per worker process covering all its topics, handler slots reserved
// before each poll (never more tasks locked than can start at once), lock extension for long
// handlers, outcome reporting (complete, BPMN error, failure with retries and backoff) with
// retries on engine outages, and a staged shutdown that leaves no task locked for nothing.
//
// The package owns its options (Options, Topic, FailoverOptions, each with exported defaults
// and a WithDefaults method) and does not import the daemon's configuration, which maps its
// YAML onto them. The runtime's files follow its parts: poller.go (slots and the
// fetch-and-lock loop), executor.go (running a handler, lock extension), reporter.go
// (reporting outcomes with retries), retry.go (retry counts and timeouts) and runtime.go
// (New, Run, Ready and the stop).
//
// Handlers are registered by name in a Registry (see processes.RegisterAll) and built per
// topic by a Factory from that topic's settings (Topic.HandlerOptions for the handler's own).
// Their outcomes are values and typed errors: see Handler.
package topics
