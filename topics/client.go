package topics

import "net/http"

// NewHTTPClient returns an HTTP client for other REST calls to the engine (the daemon's HTTP
// API starts processes with it): the same TLS settings, login and timeout as the runtime's
// client.
func NewHTTPClient(o Options) (*http.Client, error) { return newHTTPClient(o.WithDefaults(), nil) }
