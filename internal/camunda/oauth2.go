package camunda

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// OAuth2 is the OAuth2 client-credentials login (RFC 6749 section 4.4): the client fetches an
// access token from TokenURL with ClientID and ClientSecret and sends it as a bearer token.
// Tokens are cached and fetched anew ExpiryDelta before they expire; an engine answer 401
// drops the cached token, and the request is sent once more with a new one. ClientSecret is
// a secret: it never appears in an error.
type OAuth2 struct {
	// TokenURL is the authorization server's token endpoint; "" means no OAuth2.
	TokenURL string
	// ClientID and ClientSecret are the client's credentials, sent as the server accepts them
	// (HTTP basic auth first, else form parameters; the first answer decides).
	ClientID     string
	ClientSecret string
	// Scopes are requested with each token ("" scope parameter when empty).
	Scopes []string
	// ExpiryDelta is how long before its expiry a token is replaced; 0 means
	// DefaultTokenExpiryDelta.
	ExpiryDelta time.Duration
	// Timeout bounds one call to the token endpoint; 0 means DefaultTokenTimeout.
	Timeout time.Duration
}

// DefaultTokenExpiryDelta is how long before its expiry a token is replaced: a request sent
// with a token that is about to expire may reach the engine after it did.
const DefaultTokenExpiryDelta = 30 * time.Second

// DefaultTokenTimeout bounds one call to the token endpoint.
const DefaultTokenTimeout = 10 * time.Second

// TokenError is a failure to get an access token from the token endpoint. Its message names
// the endpoint (without credentials or query) and the reason, never the client secret.
type TokenError struct {
	// URL is the token endpoint, redacted.
	URL string
	// Reason is what went wrong, with the client secret scrubbed out.
	Reason string
	// Err is the cause (a *oauth2.RetrieveError for an error answer).
	Err error
}

func (e *TokenError) Error() string {
	return fmt.Sprintf("camunda.auth.oauth2: token endpoint %s failed: %s", e.URL, e.Reason)
}

func (e *TokenError) Unwrap() error { return e.Err }

// oauth2Transport sets a bearer token from the token cache on every request, and on a 401
// from the engine fetches a new token and sends the request once more (when its body can be
// sent again: GetBody).
type oauth2Transport struct {
	cfg     OAuth2
	url     string // TokenURL, redacted, for errors
	next    http.RoundTripper
	newSrc  func() oauth2.TokenSource
	mu      sync.Mutex
	src     oauth2.TokenSource // caching: oauth2.ReuseTokenSourceWithExpiry
	current string             // the access token src last gave
}

func newOAuth2Transport(cfg OAuth2, base http.RoundTripper) (*oauth2Transport, error) {
	u, err := url.Parse(cfg.TokenURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("camunda.auth.oauth2.tokenUrl %s: must be an absolute http(s) URL of the token endpoint, e.g. https://login.example.com/realms/x/protocol/openid-connect/token", redactTokenURL(cfg.TokenURL))
	}
	if cfg.ClientID == "" || cfg.ClientSecret == "" {
		return nil, errors.New("camunda.auth.oauth2: clientId and clientSecret are required with tokenUrl")
	}
	if cfg.ExpiryDelta <= 0 {
		cfg.ExpiryDelta = DefaultTokenExpiryDelta
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTokenTimeout
	}
	cc := &clientcredentials.Config{ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, TokenURL: cfg.TokenURL, Scopes: cfg.Scopes}
	// The token endpoint is reached over the same transport (TLS settings) as the engine,
	// with a deadline of its own: a token fetch has no request context (see token).
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: base, Timeout: cfg.Timeout})
	t := &oauth2Transport{cfg: cfg, url: redactTokenURL(cfg.TokenURL), next: base}
	t.newSrc = func() oauth2.TokenSource {
		return oauth2.ReuseTokenSourceWithExpiry(nil, cc.TokenSource(ctx), cfg.ExpiryDelta)
	}
	t.src = t.newSrc()
	return t, nil
}

// token returns the cached token, or a new one from the token endpoint. oauth2's token
// sources take no context, so the fetch runs aside and a cancelled request does not wait for
// it (it ends within cfg.Timeout).
func (t *oauth2Transport) token(ctx context.Context) (*oauth2.Token, error) {
	t.mu.Lock()
	src := t.src
	t.mu.Unlock()
	type result struct {
		tok *oauth2.Token
		err error
	}
	ch := make(chan result, 1)
	go func() {
		tok, err := src.Token()
		ch <- result{tok, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, t.tokenError(r.err)
		}
		t.mu.Lock()
		if t.src == src {
			t.current = r.tok.AccessToken
		}
		t.mu.Unlock()
		return r.tok, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("camunda.auth.oauth2: waiting for a token from %s: %w", t.url, ctx.Err())
	}
}

// invalidate drops the cached token if it is still bad (the one the engine refused): of
// several requests refused at once, the first starts a new token source, the others use it.
func (t *oauth2Transport) invalidate(bad string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.current == bad {
		t.src = t.newSrc()
		t.current = ""
	}
}

func (t *oauth2Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	closeBody := func() {
		if req.Body != nil {
			_ = req.Body.Close()
		}
	}
	tok, err := t.token(req.Context())
	if err != nil {
		closeBody()
		return nil, err
	}
	r := req.Clone(req.Context())
	tok.SetAuthHeader(r)
	resp, err := t.next.RoundTrip(r)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	if !replayable {
		return resp, nil
	}
	// The engine refused the token (revoked, signing key rotated, clock skew): one new token,
	// one more try. A second 401 is the answer.
	t.invalidate(tok.AccessToken)
	tok, err = t.token(req.Context())
	if err != nil {
		return resp, nil // the engine's 401 says more than a failed refresh; the next call retries
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	r = req.Clone(req.Context())
	if req.GetBody != nil && req.Body != nil && req.Body != http.NoBody {
		body, err := req.GetBody()
		if err != nil {
			return nil, fmt.Errorf("camunda: resend the request with a new token: %w", err)
		}
		r.Body = body
	}
	tok.SetAuthHeader(r)
	return t.next.RoundTrip(r)
}

// tokenError describes a failed token fetch without the client secret.
func (t *oauth2Transport) tokenError(err error) error {
	var reason string
	var re *oauth2.RetrieveError
	switch {
	case errors.As(err, &re):
		status := "an error"
		code := 0
		if re.Response != nil {
			status, code = re.Response.Status, re.Response.StatusCode
		}
		detail := re.ErrorCode
		if re.ErrorDescription != "" {
			detail += ": " + re.ErrorDescription
		}
		if detail == "" {
			detail = strings.Join(strings.Fields(string(re.Body)), " ")
			if len(detail) > 200 {
				detail = detail[:200] + "..."
			}
		}
		reason = "answered " + status
		if detail != "" {
			reason += ": " + detail
		}
		if code == http.StatusUnauthorized || code == http.StatusBadRequest && re.ErrorCode == "invalid_client" || re.ErrorCode == "unauthorized_client" {
			reason += " (check camunda.auth.oauth2.clientId and clientSecret)"
		}
	default:
		// Not url.Error's own text: it repeats the token URL with its query.
		var ue *url.Error
		if errors.As(err, &ue) {
			reason = ue.Op + ": " + ue.Err.Error()
		} else {
			reason = err.Error()
		}
	}
	return &TokenError{URL: t.url, Reason: scrubSecret(reason, t.cfg.ClientSecret), Err: err}
}

// scrubSecret replaces secret, as given or escaped, in s: a token endpoint may echo its
// request. A secret under 4 bytes is left alone (it would hide parts of ordinary words).
func scrubSecret(s, secret string) string {
	if len(secret) < 4 {
		return s
	}
	for _, f := range []string{secret, url.QueryEscape(secret), url.PathEscape(secret)} {
		s = strings.ReplaceAll(s, f, "<redacted>")
	}
	return s
}

// redactTokenURL is the token endpoint for messages: no user info, query or fragment (where
// credentials could hide).
func redactTokenURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "<unparsable URL>"
	}
	redacted := u.User != nil
	u.User = nil
	if u.RawQuery != "" || u.Fragment != "" {
		redacted = true
	}
	u.RawQuery, u.Fragment, u.RawFragment = "", "", ""
	out := u.String()
	if redacted {
		out += " (credentials and query redacted)"
	}
	return out
}
