package camunda

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

const (
	testClientID     = "camunda-waitroom"
	testClientSecret = "Cl1ent-S3cret-Value"
)

// tokenEndpoint is an OAuth2 authorization server's token endpoint for the client
// credentials grant: it issues opaque tokens tok-1, tok-2, ... to testClientID with
// testClientSecret (basic auth or form), valid expiresIn seconds, and counts its grants.
type tokenEndpoint struct {
	srv       *httptest.Server
	grants    atomic.Int32
	expiresIn atomic.Int64
	// answer, when set, replaces the endpoint's answer (status and body).
	mu     sync.Mutex
	answer func(w http.ResponseWriter)
	scopes []string
}

func newTokenEndpoint(t *testing.T, expiresIn int64) *tokenEndpoint {
	te := &tokenEndpoint{}
	te.expiresIn.Store(expiresIn)
	te.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		te.mu.Lock()
		answer := te.answer
		te.mu.Unlock()
		if answer != nil {
			answer(w)
			return
		}
		if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "client_credentials" {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"error":"unsupported_grant_type"}`)
			return
		}
		id, secret, ok := r.BasicAuth()
		if !ok {
			id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		}
		w.Header().Set("Content-Type", "application/json")
		if id != testClientID || secret != testClientSecret {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":"invalid_client","error_description":"Invalid client or Invalid client credentials"}`)
			return
		}
		te.mu.Lock()
		te.scopes = strings.Fields(r.PostForm.Get("scope"))
		te.mu.Unlock()
		n := te.grants.Add(1)
		_ = json.NewEncoder(w).Encode(map[string]any{
			"access_token": fmt.Sprintf("tok-%d", n), "token_type": "bearer", "expires_in": te.expiresIn.Load(),
		})
	}))
	t.Cleanup(te.srv.Close)
	return te
}

func (te *tokenEndpoint) setAnswer(f func(w http.ResponseWriter)) {
	te.mu.Lock()
	te.answer = f
	te.mu.Unlock()
}

// resourceServer stands in for the engine: it accepts the tokens in valid (all when nil
// refuse is false), answers 401 otherwise, and records each request's token and body.
type resourceServer struct {
	srv    *httptest.Server
	mu     sync.Mutex
	seen   []string // Authorization header values
	bodies []string
	reject func(token string) bool
}

func newResourceServer(t *testing.T) *resourceServer {
	rs := &resourceServer{}
	rs.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		auth := r.Header.Get("Authorization")
		rs.mu.Lock()
		rs.seen = append(rs.seen, auth)
		rs.bodies = append(rs.bodies, string(body))
		reject := rs.reject
		rs.mu.Unlock()
		tok, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok || (reject != nil && reject(tok)) {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"type":"AuthenticationException","message":"invalid token"}`)
			return
		}
		_, _ = io.WriteString(w, `{"version":"7.24.0"}`)
	}))
	t.Cleanup(rs.srv.Close)
	return rs
}

func (rs *resourceServer) setReject(f func(token string) bool) {
	rs.mu.Lock()
	rs.reject = f
	rs.mu.Unlock()
}

func (rs *resourceServer) requests() (tokens, bodies []string) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return append([]string(nil), rs.seen...), append([]string(nil), rs.bodies...)
}

func oauthClient(t *testing.T, te *tokenEndpoint, mod func(*OAuth2)) *http.Client {
	t.Helper()
	o := OAuth2{TokenURL: te.srv.URL + "/token", ClientID: testClientID, ClientSecret: testClientSecret}
	if mod != nil {
		mod(&o)
	}
	hc, err := NewHTTPClient(Config{Auth: Auth{OAuth2: o}}, nil)
	require.NoError(t, err)
	t.Cleanup(hc.CloseIdleConnections)
	return hc
}

func get(t *testing.T, hc *http.Client, url string) (int, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// A token is fetched once and reused, by concurrent requests too, while it is far from its
// expiry; the scopes are requested.
func TestOAuth2CachesTheToken(t *testing.T) {
	te := newTokenEndpoint(t, 3600)
	rs := newResourceServer(t)
	hc := oauthClient(t, te, func(o *OAuth2) { o.Scopes = []string{"engine-rest", "openid"} })
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			code, err := get(t, hc, rs.srv.URL+"/version")
			assert.NoError(t, err)
			assert.Equal(t, http.StatusOK, code)
		})
	}
	wg.Wait()
	require.EqualValues(t, 1, te.grants.Load(), "one token for all requests")
	tokens, _ := rs.requests()
	require.Len(t, tokens, 20)
	for _, tok := range tokens {
		require.Equal(t, "Bearer tok-1", tok)
	}
	te.mu.Lock()
	require.Equal(t, []string{"engine-rest", "openid"}, te.scopes)
	te.mu.Unlock()
}

// A token that expires within the expiry delta is not used: the next request gets a new
// one. With 20 s left and the default delta of 30 s, every request fetches; with a delta
// of 10 s, the first token serves them all.
func TestOAuth2RenewsAheadOfExpiry(t *testing.T) {
	rs := newResourceServer(t)

	te := newTokenEndpoint(t, 20)
	hc := oauthClient(t, te, nil)
	for range 3 {
		code, err := get(t, hc, rs.srv.URL+"/version")
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, code)
	}
	require.EqualValues(t, 3, te.grants.Load(), "a token 20s from expiry is inside the 30s delta: renewed")
	tokens, _ := rs.requests()
	require.Equal(t, []string{"Bearer tok-1", "Bearer tok-2", "Bearer tok-3"}, tokens)

	te2 := newTokenEndpoint(t, 20)
	hc2 := oauthClient(t, te2, func(o *OAuth2) { o.ExpiryDelta = 10 * time.Second })
	for range 3 {
		_, err := get(t, hc2, rs.srv.URL+"/version")
		require.NoError(t, err)
	}
	require.EqualValues(t, 1, te2.grants.Load(), "outside a 10s delta the token is reused")
}

// The engine refuses a token (revoked, key rotated): the transport fetches a new one and
// sends the request again, body included. When the engine refuses the new token too, the 401
// is the answer: one refresh and one retry, not more.
func TestOAuth2RetriesOnceOn401(t *testing.T) {
	te := newTokenEndpoint(t, 3600)
	rs := newResourceServer(t)
	hc := oauthClient(t, te, nil)
	code, err := get(t, hc, rs.srv.URL+"/version")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code)

	rs.setReject(func(tok string) bool { return tok == "tok-1" })
	resp, err := hc.Post(rs.srv.URL+"/external-task/fetchAndLock", "application/json", strings.NewReader(`{"workerId":"w"}`))
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.EqualValues(t, 2, te.grants.Load())
	tokens, bodies := rs.requests()
	require.Equal(t, []string{"Bearer tok-1", "Bearer tok-1", "Bearer tok-2"}, tokens)
	require.Equal(t, `{"workerId":"w"}`, bodies[1])
	require.Equal(t, `{"workerId":"w"}`, bodies[2], "the retry sends the body again")

	rs.setReject(func(string) bool { return true })
	resp, err = hc.Post(rs.srv.URL+"/external-task/fetchAndLock", "application/json", strings.NewReader(`{"workerId":"w"}`))
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "a second 401 is the answer")
	require.EqualValues(t, 3, te.grants.Load(), "one new token, not two")
	tokens, _ = rs.requests()
	require.Equal(t, []string{"Bearer tok-2", "Bearer tok-3"}, tokens[3:], "one retry, not two")
}

// A request whose body cannot be read again (no GetBody) is not retried: its 401 is the
// answer. The refused token is still kept until the engine refuses a replayable request.
func TestOAuth2DoesNotRetryABodyItCannotReplay(t *testing.T) {
	te := newTokenEndpoint(t, 3600)
	rs := newResourceServer(t)
	rs.setReject(func(string) bool { return true })
	hc := oauthClient(t, te, nil)
	req, err := http.NewRequest(http.MethodPost, rs.srv.URL+"/deployment/create", io.NopCloser(strings.NewReader("stream")))
	require.NoError(t, err)
	require.Nil(t, req.GetBody)
	resp, err := hc.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	tokens, _ := rs.requests()
	require.Len(t, tokens, 1)
	require.EqualValues(t, 1, te.grants.Load())
}

// Concurrent requests refused with the same token renew it once, not once each.
func TestOAuth2ConcurrentRefusalsRenewOnce(t *testing.T) {
	te := newTokenEndpoint(t, 3600)
	rs := newResourceServer(t)
	hc := oauthClient(t, te, nil)
	_, err := get(t, hc, rs.srv.URL+"/version")
	require.NoError(t, err)
	rs.setReject(func(tok string) bool { return tok == "tok-1" })
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			code, err := get(t, hc, rs.srv.URL+"/version")
			assert.NoError(t, err)
			assert.Equal(t, http.StatusOK, code)
		})
	}
	wg.Wait()
	require.EqualValues(t, 2, te.grants.Load())
}

// A refusing token endpoint (wrong secret): the call fails before reaching the engine, with
// an error that names the endpoint, its answer and what to check, and not the secret.
func TestOAuth2TokenEndpointRefuses(t *testing.T) {
	te := newTokenEndpoint(t, 3600)
	rs := newResourceServer(t)
	hc := oauthClient(t, te, func(o *OAuth2) { o.ClientSecret = "Wr0ng-S3cret-Value" })
	_, err := get(t, hc, rs.srv.URL+"/version")
	require.Error(t, err)
	var te2 *TokenError
	require.ErrorAs(t, err, &te2)
	require.Equal(t, te.srv.URL+"/token", te2.URL)
	var re *oauth2.RetrieveError
	require.ErrorAs(t, err, &re, "the cause is kept")
	msg := err.Error()
	require.Contains(t, msg, "camunda.auth.oauth2: token endpoint "+te.srv.URL+"/token failed: answered 401 Unauthorized: invalid_client: Invalid client or Invalid client credentials (check camunda.auth.oauth2.clientId and clientSecret)")
	require.NotContains(t, msg, "Wr0ng-S3cret-Value")
	tokens, _ := rs.requests()
	require.Empty(t, tokens, "no request reaches the engine without a token")
}

// A token endpoint that is down, or answers something that is not a token, or echoes the
// request: clear errors, never the secret, never the token URL's credentials or query.
func TestOAuth2TokenEndpointFailures(t *testing.T) {
	rs := newResourceServer(t)
	t.Run("down", func(t *testing.T) {
		te := newTokenEndpoint(t, 3600)
		te.srv.Close()
		hc := oauthClient(t, te, func(o *OAuth2) {
			o.TokenURL = strings.Replace(o.TokenURL, "http://", "http://idp-user:idp-pass@", 1) + "?tenant=q-secret"
		})
		_, err := get(t, hc, rs.srv.URL+"/version")
		require.Error(t, err)
		msg := err.Error()
		require.Contains(t, msg, "camunda.auth.oauth2: token endpoint "+te.srv.URL+"/token (credentials and query redacted) failed: Post: dial tcp")
		require.Contains(t, msg, "connection refused")
		for _, s := range []string{testClientSecret, "idp-pass", "q-secret"} {
			require.NotContains(t, msg, s)
		}
	})
	t.Run("echoes the secret", func(t *testing.T) {
		te := newTokenEndpoint(t, 3600)
		te.setAnswer(func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusBadGateway)
			_, _ = io.WriteString(w, "<html>upstream said: client_secret="+testClientSecret+"</html>")
		})
		hc := oauthClient(t, te, nil)
		_, err := get(t, hc, rs.srv.URL+"/version")
		require.ErrorContains(t, err, "failed: answered 502 Bad Gateway: <html>upstream said: client_secret=<redacted></html>")
		require.NotContains(t, err.Error(), testClientSecret)
	})
	t.Run("no access token", func(t *testing.T) {
		te := newTokenEndpoint(t, 3600)
		te.setAnswer(func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"token_type":"bearer"}`)
		})
		hc := oauthClient(t, te, nil)
		_, err := get(t, hc, rs.srv.URL+"/version")
		require.ErrorContains(t, err, "token endpoint "+te.srv.URL+"/token failed: oauth2: server response missing access_token")
	})
	t.Run("hangs", func(t *testing.T) {
		release := make(chan struct{})
		te := newTokenEndpoint(t, 3600)
		te.setAnswer(func(http.ResponseWriter) { <-release })
		defer close(release)
		hc := oauthClient(t, te, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, rs.srv.URL+"/version", nil)
		require.NoError(t, err)
		began := time.Now()
		_, err = hc.Do(req)
		require.ErrorIs(t, err, context.DeadlineExceeded, "the request's deadline holds while the token fetch hangs")
		require.ErrorContains(t, err, "waiting for a token from "+te.srv.URL+"/token")
		require.Less(t, time.Since(began), 5*time.Second)
	})
}

// The token endpoint recovers: the next call after a failure fetches a token and succeeds
// (a failed fetch is not cached).
func TestOAuth2RecoversAfterTokenEndpointFailure(t *testing.T) {
	te := newTokenEndpoint(t, 3600)
	rs := newResourceServer(t)
	te.setAnswer(func(w http.ResponseWriter) { w.WriteHeader(http.StatusServiceUnavailable) })
	hc := oauthClient(t, te, nil)
	_, err := get(t, hc, rs.srv.URL+"/version")
	require.ErrorContains(t, err, "answered 503 Service Unavailable")
	te.setAnswer(nil)
	code, err := get(t, hc, rs.srv.URL+"/version")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code)
}

func TestNewHTTPClientRefusesTwoLogins(t *testing.T) {
	o := OAuth2{TokenURL: "http://127.0.0.1:9/token", ClientID: "id", ClientSecret: "s3cret-value"}
	_, err := NewHTTPClient(Config{Auth: Auth{Token: "tok", OAuth2: o}}, nil)
	require.ErrorContains(t, err, "cannot be combined")
	_, err = NewHTTPClient(Config{Auth: Auth{OAuth2: OAuth2{TokenURL: "http://127.0.0.1:9/token", ClientID: "id"}}}, nil)
	require.ErrorContains(t, err, "clientId and clientSecret are required")
	_, err = NewHTTPClient(Config{Auth: Auth{OAuth2: OAuth2{TokenURL: "token", ClientID: "id", ClientSecret: "s3cret-value"}}}, nil)
	require.ErrorContains(t, err, "camunda.auth.oauth2.tokenUrl")
	require.False(t, errors.Is(err, context.Canceled))
}
