package camunda

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"time"
)

// Config is how to reach the engine's REST API: its root URL, the login and the TLS settings.
// The daemon maps its camunda: YAML section onto it.
type Config struct {
	// URL is the engine's REST root, e.g. http://localhost:8080/engine-rest.
	URL string
	// Auth is basic (Username/Password) or bearer (Token); at most one.
	Auth Auth
	// TLS configures https to the engine.
	TLS TLS
	// Timeout is the HTTP client's overall deadline per call; 0 means none (each call's
	// context bounds it). The runtime sets it above the long-poll time.
	Timeout time.Duration
}

// Auth is the engine's login. Password and Token are secrets: never log them.
type Auth struct {
	Username string
	Password string
	Token    string
}

// TLS configures https to the engine.
type TLS struct {
	// CAFile is a PEM bundle trusted in addition to the system roots.
	CAFile string
	// InsecureSkipVerify disables certificate checks: for tests only.
	InsecureSkipVerify bool
}

// NewHTTPClient builds the engine's HTTP client: TLS from cfg (custom CA, insecure skip), the
// login set on every request, and cfg.Timeout. base is the transport under it; nil means a
// clone of http.DefaultTransport with cfg.TLS applied.
func NewHTTPClient(cfg Config, base http.RoundTripper) (*http.Client, error) {
	if base == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 64
		tc, err := tlsConfig(cfg.TLS)
		if err != nil {
			return nil, err
		}
		tr.TLSClientConfig = tc
		base = tr
	}
	if cfg.Auth.Token != "" || cfg.Auth.Username != "" {
		base = authTransport{auth: cfg.Auth, next: base}
	}
	return &http.Client{Transport: base, Timeout: cfg.Timeout}, nil
}

// tlsConfig is the client TLS configuration cfg asks for, or nil for Go's defaults.
func tlsConfig(cfg TLS) (*tls.Config, error) {
	if cfg.CAFile == "" && !cfg.InsecureSkipVerify {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.InsecureSkipVerify} //nolint:gosec // opt-in, for tests
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("camunda.tls.caFile: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("camunda.tls.caFile %s: no PEM certificate found", cfg.CAFile)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

// authTransport sets the Authorization header on every request: bearer token, or basic auth
// when a username is set, or nothing. The request is cloned, as a RoundTripper must not
// modify its argument.
type authTransport struct {
	auth Auth
	next http.RoundTripper
}

func (t authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	Authorize(t.auth)(r)
	return t.next.RoundTrip(r)
}

// Authorize sets the engine's Authorization header on req from a: bearer token, or basic auth
// when a username is set, or nothing.
func Authorize(a Auth) func(*http.Request) {
	return func(req *http.Request) {
		switch {
		case a.Token != "":
			req.Header.Set("Authorization", "Bearer "+a.Token)
		case a.Username != "":
			req.SetBasicAuth(a.Username, a.Password)
		}
	}
}
