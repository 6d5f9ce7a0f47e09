package enginetest

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"
	"unicode/utf8"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// MinHS256SecretLen is the shortest secret the engine accepts for HS256 (a 256-bit key).
const MinHS256SecretLen = 32

// DefaultTokenLifetime is how long the tokens the REST helpers mint for themselves stay valid.
const DefaultTokenLifetime = 5 * time.Minute

// BearerAuth makes a started engine require JWT bearer tokens on its REST API, like an engine
// behind an OAuth2 gateway (see dev/README.md): a request without a token whose signature
// verifies, whose exp lies ahead and whose aud/iss match is answered 401. GET /engine stays
// open, so readiness is still probed without a token. At least one key source must be set.
type BearerAuth struct {
	// HS256Secret accepts tokens signed HS256 with it: UTF-8 text (it reaches the engine in an
	// environment variable) of MinHS256SecretLen bytes at least.
	HS256Secret []byte
	// JWKSURL accepts tokens signed (RS*, PS*, ES*) by a key of the JWK set served there, e.g. a
	// TokenIssuer's. The engine fetches it on the first token and again for an unknown key id.
	JWKSURL string
	// Audience, when set, must be one of a token's "aud" values.
	Audience string
	// Issuer, when set, must equal a token's "iss".
	Issuer string
	// Token gives the token the REST helpers (Do, Deploy, ...) send. nil means: with
	// HS256Secret, a token signed with it for Audience and Issuer, valid DefaultTokenLifetime;
	// without, no token (the helpers' calls are then refused).
	Token func() (string, error)
}

func (b *BearerAuth) validate() error {
	if len(b.HS256Secret) == 0 && b.JWKSURL == "" {
		return errors.New("enginetest: BearerAuth needs HS256Secret or JWKSURL (the key that signs the tokens)")
	}
	if len(b.HS256Secret) > 0 && len(b.HS256Secret) < MinHS256SecretLen {
		return fmt.Errorf("enginetest: BearerAuth.HS256Secret has %d bytes, HS256 needs at least %d", len(b.HS256Secret), MinHS256SecretLen)
	}
	// The secret reaches the JVM in an environment variable, read back as UTF-8 text.
	if !utf8.Valid(b.HS256Secret) || bytes.IndexByte(b.HS256Secret, 0) >= 0 {
		return errors.New("enginetest: BearerAuth.HS256Secret must be UTF-8 text without NUL (it is passed in an environment variable), e.g. hex of random bytes")
	}
	if b.JWKSURL != "" {
		u, err := url.Parse(b.JWKSURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("enginetest: BearerAuth.JWKSURL %q is not an http(s) URL", b.JWKSURL)
		}
	}
	return nil
}

// env is the engine process's environment for b (the variables dev/engine.sh documents).
func (b *BearerAuth) env() []string {
	var env []string
	add := func(name, v string) {
		if v != "" {
			env = append(env, EnvBearerPrefix+name+"="+v)
		}
	}
	add("HS256_SECRET", string(b.HS256Secret))
	add("JWKS_URI", b.JWKSURL)
	add("AUDIENCE", b.Audience)
	add("ISSUER", b.Issuer)
	return env
}

// token is what the REST helpers send ("" for none).
func (b *BearerAuth) token() (string, error) {
	switch {
	case b.Token != nil:
		return b.Token()
	case len(b.HS256Secret) > 0:
		c := Claims{Subject: "enginetest", Issuer: b.Issuer, Expiry: time.Now().Add(DefaultTokenLifetime)}
		if b.Audience != "" {
			c.Audience = []string{b.Audience}
		}
		return SignHS256(b.HS256Secret, c)
	default:
		return "", nil
	}
}

// Claims are the registered JWT claims the signing helpers write. Zero values are left out
// (a token without Expiry is refused by the engine: exp is required).
type Claims struct {
	Subject  string
	Issuer   string
	Audience []string
	Expiry   time.Time
	IssuedAt time.Time
	// Extra claims, e.g. "scope" or "azp".
	Extra map[string]any
}

func (c Claims) jwt() (jwt.Claims, map[string]any) {
	out := jwt.Claims{Subject: c.Subject, Issuer: c.Issuer, Audience: jwt.Audience(c.Audience)}
	if !c.Expiry.IsZero() {
		out.Expiry = jwt.NewNumericDate(c.Expiry)
	}
	if !c.IssuedAt.IsZero() {
		out.IssuedAt = jwt.NewNumericDate(c.IssuedAt)
	}
	return out, c.Extra
}

func sign(key jose.SigningKey, c Claims) (string, error) {
	signer, err := jose.NewSigner(key, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", fmt.Errorf("enginetest: JWT signer: %w", err)
	}
	std, extra := c.jwt()
	b := jwt.Signed(signer).Claims(std)
	if len(extra) > 0 {
		b = b.Claims(extra)
	}
	tok, err := b.Serialize()
	if err != nil {
		return "", fmt.Errorf("enginetest: sign JWT: %w", err)
	}
	return tok, nil
}

// SignHS256 returns a compact JWT with claims c signed HS256 with secret, as an engine started
// with BearerAuth.HS256Secret = secret accepts (if c matches its audience and issuer).
func SignHS256(secret []byte, c Claims) (string, error) {
	return sign(jose.SigningKey{Algorithm: jose.HS256, Key: secret}, c)
}

// TokenIssuer stands in for an OAuth2 authorization server's signing side: a fresh RSA key,
// its public half served as a JWK set (JWKSHandler, for BearerAuth.JWKSURL), and RS256 tokens
// signed with it (Sign). A test serves the handler with httptest, next to a token endpoint of
// its own if it needs one.
type TokenIssuer struct {
	key  *rsa.PrivateKey
	kid  string
	jwks []byte
}

// NewTokenIssuer makes an issuer with a new 2048-bit RSA key.
func NewTokenIssuer() (*TokenIssuer, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("enginetest: RSA key: %w", err)
	}
	kidBytes := make([]byte, 8)
	if _, err := rand.Read(kidBytes); err != nil {
		return nil, fmt.Errorf("enginetest: key id: %w", err)
	}
	kid := fmt.Sprintf("enginetest-%x", kidBytes)
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{
		Key: &key.PublicKey, KeyID: kid, Algorithm: string(jose.RS256), Use: "sig",
	}}}
	jwks, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("enginetest: JWK set: %w", err)
	}
	return &TokenIssuer{key: key, kid: kid, jwks: jwks}, nil
}

// Sign returns a compact RS256 JWT with claims c, its header naming the issuer's key id.
func (ti *TokenIssuer) Sign(c Claims) (string, error) {
	return sign(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: ti.key, KeyID: ti.kid}}, c)
}

// JWKSHandler serves the issuer's JWK set (application/json) on every GET.
func (ti *TokenIssuer) JWKSHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			http.Error(w, "GET only", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(ti.jwks)
	})
}
