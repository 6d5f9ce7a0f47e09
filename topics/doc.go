// Package topics is the Camunda 7 external-task runtime: subscriptions from config, one
// fetch-and-lock long poll per worker process covering all its topics, handler slots reserved
// before each poll (never more tasks locked than can start at once), lock extension for long
// handlers, outcome reporting (complete, BPMN error, failure with retries and backoff) with
// retries on engine outages, and a staged shutdown that leaves no task locked for nothing.
//
// Handlers are registered by name in a Registry (see processes.RegisterAll) and built per
// topic by a Factory from that topic's configuration. Their outcomes are values and typed
// errors: see Handler.
package topics
