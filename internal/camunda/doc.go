// Package camunda is the one client of the engine's REST API (Camunda 7 and Operaton
// /engine-rest): the HTTP client with its TLS and authentication, the wire types (typed
// variables), and the calls the worker runtime, the HTTP API, deployment, tests and
// benchmarks make.
package camunda
