package camunda

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
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
	// Auth is basic (Username/Password), bearer (Token) or OAuth2 client credentials; at
	// most one.
	Auth Auth
	// TLS configures https to the engine.
	TLS TLS
	// Timeout is the HTTP client's overall deadline per call; 0 means none (each call's
	// context bounds it). The runtime sets it above the long-poll time.
	Timeout time.Duration
}

// Auth is the engine's login: basic (Username/Password), a fixed bearer Token, or OAuth2
// client credentials (OAuth2, used when its TokenURL is set); one of them at most. Password,
// Token and OAuth2.ClientSecret are secrets: never log them.
type Auth struct {
	Username string
	Password string
	Token    string
	OAuth2   OAuth2
}

// TLS configures https to the engine.
type TLS struct {
	// CAFile is a PEM bundle trusted in addition to the system roots.
	CAFile string
	// CertFile and KeyFile are the PEM client certificate (chain) and its private key, sent
	// when the server asks for one (mutual TLS); both or neither.
	CertFile string
	KeyFile  string
	// InsecureSkipVerify disables certificate checks: for tests only.
	InsecureSkipVerify bool
}

// NewHTTPClient builds the engine's HTTP client: TLS from cfg (custom CA, client certificate,
// insecure skip), the login set on every request (for OAuth2, a cached token fetched from the
// token endpoint, see OAuth2), and cfg.Timeout. base is the transport under it; nil means a
// clone of http.DefaultTransport with cfg.TLS applied. Files named in cfg.TLS are read here,
// so a missing or bad one fails at start.
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
	switch a := cfg.Auth; {
	case a.OAuth2.TokenURL != "":
		if a.Token != "" || a.Username != "" || a.Password != "" {
			return nil, errors.New("camunda.auth.oauth2 cannot be combined with camunda.auth.username/password or camunda.auth.token: choose one login")
		}
		tr, err := newOAuth2Transport(a.OAuth2, base)
		if err != nil {
			return nil, err
		}
		base = tr
	case a.Token != "" || a.Username != "":
		base = authTransport{auth: a, next: base}
	}
	return &http.Client{Transport: base, Timeout: cfg.Timeout}, nil
}

// tlsConfig is the client TLS configuration cfg asks for, or nil for Go's defaults.
func tlsConfig(cfg TLS) (*tls.Config, error) {
	if cfg.CAFile == "" && cfg.CertFile == "" && cfg.KeyFile == "" && !cfg.InsecureSkipVerify {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.InsecureSkipVerify} //nolint:gosec // opt-in, for tests
	if cfg.CertFile != "" || cfg.KeyFile != "" {
		cert, err := clientCertificate(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return nil, err
		}
		tc.Certificates = []tls.Certificate{cert}
	}
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

// clientCertificate loads the client certificate for mutual TLS. Each file is read on its
// own so that the error names the one that is missing or unreadable; the key's content never
// appears in an error.
func clientCertificate(certFile, keyFile string) (tls.Certificate, error) {
	if certFile == "" || keyFile == "" {
		return tls.Certificate{}, errors.New("camunda.tls.certFile and camunda.tls.keyFile go together: set both (mutual TLS) or neither")
	}
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("camunda.tls.certFile: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("camunda.tls.keyFile: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("camunda.tls.certFile %s with camunda.tls.keyFile %s: not a PEM certificate and its matching private key: %w", certFile, keyFile, err)
	}
	return cert, nil
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
