package enginetest_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/camunda-waitroom/camunda-waitroom/internal/enginetest"
)

func TestKindFromEnv(t *testing.T) {
	for _, tc := range []struct {
		env, want, err string
	}{
		{env: "", want: enginetest.Camunda},
		{env: "camunda", want: enginetest.Camunda},
		{env: " Operaton ", want: enginetest.Operaton},
		{env: "both", err: "make test"},
		{env: "zeebe", err: `WAITROOM_TEST_ENGINE="zeebe": want camunda or operaton`},
	} {
		t.Run(tc.env, func(t *testing.T) {
			t.Setenv(enginetest.EnvEngine, tc.env)
			got, err := enginetest.KindFromEnv()
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestStartRefusesBadOptions(t *testing.T) {
	ctx := context.Background()
	for name, opts := range map[string]enginetest.Options{
		"unknown kind":         {Kind: "zeebe"},
		"basic and bearer":     {BasicAuth: "a:b", BearerAuth: &enginetest.BearerAuth{HS256Secret: make([]byte, 32)}},
		"bearer without key":   {BearerAuth: &enginetest.BearerAuth{Audience: "x"}},
		"short HS256 secret":   {BearerAuth: &enginetest.BearerAuth{HS256Secret: []byte("short")}},
		"JWK set URL not http": {BearerAuth: &enginetest.BearerAuth{JWKSURL: "file:///etc/keys"}},
	} {
		t.Run(name, func(t *testing.T) {
			e, err := enginetest.Start(ctx, opts)
			require.Error(t, err)
			require.Nil(t, e)
			require.NotErrorIs(t, err, enginetest.ErrJarMissing, "refused before looking for the jar")
		})
	}
}

// An engine started with BearerAuth refuses every REST call without a valid, unexpired token
// (401), whichever way the token is wrong, and accepts HS256 and JWK-set-signed RS256 tokens.
func TestBearerAuth(t *testing.T) {
	raw := make([]byte, 32)
	_, err := rand.Read(raw)
	require.NoError(t, err)
	secret := []byte(hex.EncodeToString(raw)) // text: it travels in an environment variable
	issuer, err := enginetest.NewTokenIssuer()
	require.NoError(t, err)
	jwks := httptest.NewServer(issuer.JWKSHandler())
	t.Cleanup(jwks.Close)
	stranger, err := enginetest.NewTokenIssuer() // a key the engine does not know
	require.NoError(t, err)

	const aud, iss = "engine-rest", "https://login.example.test/realms/waitroom"
	e := enginetest.StartT(t, enginetest.Options{BearerAuth: &enginetest.BearerAuth{
		HS256Secret: secret, JWKSURL: jwks.URL, Audience: aud, Issuer: iss,
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	call := func(method, path, token string) (int, http.Header, string) {
		t.Helper()
		var body io.Reader
		if method == http.MethodPost {
			body = strings.NewReader(`{"workerId":"w","maxTasks":1,"topics":[{"topicName":"none","lockDuration":1000}]}`)
		}
		req, err := http.NewRequestWithContext(ctx, method, e.BaseURL+path, body)
		require.NoError(t, err)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, resp.Header, string(b)
	}
	hs := func(c enginetest.Claims) string {
		t.Helper()
		tok, err := enginetest.SignHS256(secret, c)
		require.NoError(t, err)
		return tok
	}
	rs := func(ti *enginetest.TokenIssuer, c enginetest.Claims) string {
		t.Helper()
		tok, err := ti.Sign(c)
		require.NoError(t, err)
		return tok
	}
	valid := func() enginetest.Claims {
		return enginetest.Claims{Subject: "worker", Issuer: iss, Audience: []string{aud}, Expiry: time.Now().Add(time.Minute)}
	}
	with := func(change func(*enginetest.Claims)) enginetest.Claims {
		c := valid()
		change(&c)
		return c
	}
	otherSecret := append([]byte{}, secret...)
	otherSecret[0] ^= 0xff
	wrongSig, err := enginetest.SignHS256(otherSecret, valid())
	require.NoError(t, err)

	for _, tc := range []struct {
		name   string
		token  string
		status int
		reason string // in the 401's message
	}{
		{"HS256 token", hs(valid()), http.StatusOK, ""},
		{"RS256 token from the JWK set", rs(issuer, valid()), http.StatusOK, ""},
		{"several audiences, ours among them", hs(with(func(c *enginetest.Claims) { c.Audience = []string{"other", aud} })), http.StatusOK, ""},
		{"no token", "", http.StatusUnauthorized, "missing bearer token"},
		{"not a JWT", "not-a-jwt", http.StatusUnauthorized, "malformed JWT"},
		{"HS256 with another secret", wrongSig, http.StatusUnauthorized, "Invalid signature"},
		{"RS256 with a key outside the JWK set", rs(stranger, valid()), http.StatusUnauthorized, "no matching key"},
		{"expired", hs(with(func(c *enginetest.Claims) { c.Expiry = time.Now().Add(-2 * time.Second) })), http.StatusUnauthorized, "Expired JWT"},
		{"no exp", hs(with(func(c *enginetest.Claims) { c.Expiry = time.Time{} })), http.StatusUnauthorized, "missing required claims: [exp]"},
		{"wrong audience", hs(with(func(c *enginetest.Claims) { c.Audience = []string{"other"} })), http.StatusUnauthorized, "aud"},
		{"wrong issuer", rs(issuer, with(func(c *enginetest.Claims) { c.Issuer = "https://evil.example.test" })), http.StatusUnauthorized, "iss"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, rq := range [][2]string{{http.MethodGet, "/version"}, {http.MethodPost, "/external-task/fetchAndLock"}} {
				status, h, body := call(rq[0], rq[1], tc.token)
				require.Equal(t, tc.status, status, "%s %s: %s", rq[0], rq[1], body)
				if tc.status == http.StatusUnauthorized {
					require.True(t, strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer "), "challenge %q", h.Get("WWW-Authenticate"))
					require.Contains(t, body, tc.reason)
					require.Contains(t, body, `"type":"AuthenticationException"`)
				}
			}
		})
	}

	// The readiness probe stays open.
	status, _, _ := call(http.MethodGet, "/engine", "")
	require.Equal(t, http.StatusOK, status)

	// No clock skew: a token is refused as soon as its exp has passed.
	short := hs(with(func(c *enginetest.Claims) { c.Expiry = time.Now().Add(2 * time.Second) }))
	status, _, body := call(http.MethodGet, "/version", short)
	require.Equal(t, http.StatusOK, status, body)
	enginetest.Eventually(t, 20*time.Second, func() (bool, error) {
		status, _, _ := call(http.MethodGet, "/version", short)
		return status == http.StatusUnauthorized, nil
	}, "a token is refused once expired")

	// The JWK set cannot be fetched (a token with an unknown key id makes the engine try):
	// the engine answers 503, not 401, since the token may well be valid.
	jwks.Close()
	status, _, body = call(http.MethodGet, "/version", rs(stranger, valid()))
	require.Equal(t, http.StatusServiceUnavailable, status, body)
	require.Contains(t, body, "cannot fetch the JWK set")

	// The REST helpers mint their own HS256 tokens.
	v, err := e.Version(ctx)
	require.NoError(t, err)
	require.NotEmpty(t, v)
	_, err = e.Deploy(ctx, "enginetest-smoke", map[string][]byte{"enginetest-smoke.bpmn": []byte(smokeBPMN)})
	require.NoError(t, err)
}
