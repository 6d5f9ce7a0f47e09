package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/camunda-waitroom/camunda-waitroom/config"
	"github.com/camunda-waitroom/camunda-waitroom/internal/enginetest"
)

// authServer is an OAuth2 authorization server in miniature: a token endpoint (client
// credentials grant, client id and secret as HTTP basic auth or form) whose access tokens are
// RS256 JWTs of a TokenIssuer, and that issuer's JWK set, from which the engine verifies them.
type authServer struct {
	srv      *httptest.Server
	issuer   *enginetest.TokenIssuer
	id       string
	secret   string
	grants   atomic.Int32
	tokenURL string
	jwksURL  string
}

const (
	oauthAudience = "engine-rest"
	oauthIssuer   = "https://login.example.test/realms/waitroom"
)

func newAuthServer(t *testing.T) *authServer {
	t.Helper()
	issuer, err := enginetest.NewTokenIssuer()
	require.NoError(t, err)
	raw := make([]byte, 16)
	_, err = rand.Read(raw)
	require.NoError(t, err)
	a := &authServer{issuer: issuer, id: "camunda-waitroom", secret: "cs-" + hex.EncodeToString(raw)}
	mux := http.NewServeMux()
	mux.Handle("GET /jwks", issuer.JWKSHandler())
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "client_credentials" {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"error":"unsupported_grant_type"}`)
			return
		}
		id, secret, ok := r.BasicAuth()
		if !ok {
			id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		}
		if id != a.id || secret != a.secret {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":"invalid_client","error_description":"Invalid client credentials"}`)
			return
		}
		a.grants.Add(1)
		tok, err := a.sign(time.Now().Add(5 * time.Minute))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 300})
	})
	a.srv = httptest.NewServer(mux)
	t.Cleanup(a.srv.Close)
	a.tokenURL, a.jwksURL = a.srv.URL+"/token", a.srv.URL+"/jwks"
	return a
}

// sign is a token as the token endpoint issues it, expiring at exp.
func (a *authServer) sign(exp time.Time) (string, error) {
	return a.issuer.Sign(enginetest.Claims{Subject: a.id, Issuer: oauthIssuer, Audience: []string{oauthAudience},
		Expiry: exp, IssuedAt: time.Now().Add(-time.Minute), Extra: map[string]any{"azp": a.id}})
}

// inProcessDaemon is one Run in this process on a free port, its log in a buffer.
type inProcessDaemon struct {
	base string
	logs *lockedBuffer
	done chan error
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startOAuthDaemon runs the daemon against engineURL with OAuth2 client credentials (the
// secret in the environment, as an operator would set it) and the embedded topics. It
// returns once /healthz answers.
func startOAuthDaemon(t *testing.T, engineURL string, a *authServer, secret string, deploy bool) *inProcessDaemon {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	dir := t.TempDir()
	path := writeConfig(t, fmt.Sprintf(`
log: {level: info}
store: {driver: sqlite, dsn: "file:%s"}
camunda:
  url: %q
  auth:
    oauth2:
      tokenUrl: %q
      clientId: %q
      scopes: [engine-rest]
  asyncResponseTimeout: 2s
  requestTimeout: 5s
  pollBackoff: {initial: 100ms, max: 500ms}
  shutdownTimeout: 5s
  deployOnStart: %t
http: {addr: "127.0.0.1:%d", startTimeout: 10s, startLease: 30s}
retention: {enabled: false}
`, filepath.Join(dir, "w.db"), engineURL, a.tokenURL, a.id, deploy, port))
	cfg, _, err := config.Load(path, func(k string) string {
		if k == "WAITROOM_CAMUNDA_AUTH_OAUTH2_CLIENTSECRET" {
			return secret
		}
		return ""
	})
	require.NoError(t, err)
	// No scrubbing logger: what the daemon writes must be free of the secret by itself.
	logs := &lockedBuffer{}
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(logs), zap.InfoLevel))
	ctx, cancel := context.WithCancel(context.Background())
	d := &inProcessDaemon{base: fmt.Sprintf("http://127.0.0.1:%d", port), logs: logs, done: make(chan error, 1)}
	go func() { d.done <- Run(ctx, cfg, log) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-d.done:
			require.NoError(t, err, "Run")
		case <-time.After(30 * time.Second):
			t.Error("Run did not return within 30s of the cancellation")
		}
		if t.Failed() {
			t.Logf("daemon log:\n%s", logs.String())
		}
	})
	enginetest.Eventually(t, 30*time.Second, func() (bool, error) {
		code, _, err := d.get("/healthz")
		return code == http.StatusOK, err
	}, "daemon serves /healthz")
	return d
}

func (d *inProcessDaemon) get(path string) (int, string, error) {
	resp, err := http.Get(d.base + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// TestOAuth2ClientCredentialsAgainstABearerEngine: the engine demands JWTs of the
// authorization server's key. The daemon, given only the token endpoint and its client
// credentials, deploys the models, starts a process over its HTTP API and works its external
// tasks to DONE. A daemon with a wrong client secret stays unready: /readyz answers 503
// naming the token endpoint and its refusal, and neither /readyz nor the log shows the
// secret. Tokens the engine must refuse (expired, signed by another key, none) get 401.
func TestOAuth2ClientCredentialsAgainstABearerEngine(t *testing.T) {
	a := newAuthServer(t)
	e := enginetest.StartT(t, enginetest.Options{BearerAuth: &enginetest.BearerAuth{
		JWKSURL: a.jwksURL, Audience: oauthAudience, Issuer: oauthIssuer,
		Token: func() (string, error) { return a.sign(time.Now().Add(5 * time.Minute)) },
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	t.Run("the engine refuses bad tokens", func(t *testing.T) {
		stranger, err := enginetest.NewTokenIssuer()
		require.NoError(t, err)
		expired, err := a.sign(time.Now().Add(-time.Minute))
		require.NoError(t, err)
		foreign, err := stranger.Sign(enginetest.Claims{Subject: a.id, Issuer: oauthIssuer, Audience: []string{oauthAudience}, Expiry: time.Now().Add(time.Hour)})
		require.NoError(t, err)
		valid, err := a.sign(time.Now().Add(time.Minute))
		require.NoError(t, err)
		for name, tc := range map[string]struct {
			token string
			want  int
		}{
			"expired":        {expired, http.StatusUnauthorized},
			"another key":    {foreign, http.StatusUnauthorized},
			"none":           {"", http.StatusUnauthorized},
			"the issuer's":   {valid, http.StatusOK},
			"not even a JWT": {"tok-1", http.StatusUnauthorized},
		} {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.BaseURL+"/version", nil)
			require.NoError(t, err)
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err, name)
			_ = resp.Body.Close()
			require.Equal(t, tc.want, resp.StatusCode, name)
		}
	})

	t.Run("the daemon works tasks with its client credentials", func(t *testing.T) {
		d := startOAuthDaemon(t, e.BaseURL, a, a.secret, true)
		enginetest.Eventually(t, 90*time.Second, func() (bool, error) {
			code, body, err := d.get("/readyz")
			if err != nil || code != http.StatusOK {
				return false, fmt.Errorf("/readyz %d: %s (%v)", code, body, err)
			}
			return true, nil
		}, "daemon ready")
		client := &http.Client{Timeout: 60 * time.Second}
		resp, err := client.Post(d.base+"/process/onboard-user/start", "application/json",
			strings.NewReader(`{"variables": {"email": "ada@example.com", "name": "Ada Lovelace"}}`))
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, "body: %s", body)
		var res struct {
			Status  string          `json:"status"`
			Payload json.RawMessage `json:"payload"`
		}
		require.NoError(t, json.Unmarshal(body, &res))
		require.Equal(t, "DONE", res.Status, "body: %s", body)
		require.Contains(t, string(res.Payload), "ada@example.com")
		require.Positive(t, a.grants.Load(), "the daemon got its tokens from the token endpoint")
		require.NotContains(t, d.logs.String(), a.secret)
	})

	t.Run("a wrong client secret leaves the daemon unready, saying why", func(t *testing.T) {
		const wrong = "Wr0ng-Cl1ent-S3cret"
		d := startOAuthDaemon(t, e.BaseURL, a, wrong, false)
		var body string
		enginetest.Eventually(t, 30*time.Second, func() (bool, error) {
			code, b, err := d.get("/readyz")
			body = b
			return code == http.StatusServiceUnavailable && strings.Contains(b, "token endpoint"), err
		}, "/readyz names the token endpoint")
		var ready struct {
			Checks map[string]string `json:"checks"`
		}
		require.NoError(t, json.Unmarshal([]byte(body), &ready), body)
		t.Logf("/readyz: %s", body)
		require.Contains(t, ready.Checks["engine"], "camunda.auth.oauth2: token endpoint "+a.tokenURL+" failed: answered 401 Unauthorized: invalid_client: Invalid client credentials (check camunda.auth.oauth2.clientId and clientSecret)")
		require.NotContains(t, body, wrong)

		// A start is refused before anything reaches the engine, without the secret.
		resp, err := http.Post(d.base+"/process/onboard-user/start", "application/json", strings.NewReader(`{"variables": {"email": "ada@example.com", "name": "Ada"}}`))
		require.NoError(t, err)
		sb, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		require.GreaterOrEqual(t, resp.StatusCode, 500, "body: %s", sb)
		t.Logf("start: %d %s", resp.StatusCode, sb)
		require.NotContains(t, string(sb), wrong)

		enginetest.Eventually(t, 10*time.Second, func() (bool, error) {
			return strings.Contains(d.logs.String(), "token endpoint "+a.tokenURL+" failed"), nil
		}, "the poll failure is logged")
		require.NotContains(t, d.logs.String(), wrong)
	})
}
