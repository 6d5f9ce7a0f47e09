package topics

import (
	"net/http"

	"github.com/camunda-waitroom/camunda-waitroom/internal/camunda"

	"github.com/camunda-waitroom/camunda-waitroom/config"
)

// NewHTTPClient returns an HTTP client for other REST calls to the engine (the daemon's HTTP
// API starts processes with it): the same TLS settings as the runtime's client.
func NewHTTPClient(cfg config.Camunda) (*http.Client, error) { return newHTTPClient(cfg, nil) }

// Authorize sets the engine's Authorization header on req from cfg: bearer token, or basic
// auth when a username is set, or nothing.
func Authorize(cfg config.CamundaAuth) func(*http.Request) {
	return camunda.Authorize(camunda.Auth{Username: cfg.Username, Password: cfg.Password, Token: cfg.Token})
}
