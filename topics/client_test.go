package topics

import (
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/camunda-waitroom/camunda-waitroom/internal/camunda"
)

func TestNewHTTPClientTimeout(t *testing.T) {
	t.Parallel()
	hc, err := newHTTPClient(Options{AsyncResponseTimeout: 20 * time.Second}, nil)
	require.NoError(t, err)
	assert.Greater(t, hc.Timeout, 20*time.Second)
	_, err = newHTTPClient(Options{Engine: camunda.Config{TLS: camunda.TLS{CAFile: "/nonexistent.pem"}}}, nil)
	assert.ErrorContains(t, err, "camunda.tls.caFile")
	hc, err = newHTTPClient(Options{Engine: camunda.Config{TLS: camunda.TLS{InsecureSkipVerify: true}}}, nil)
	require.NoError(t, err)
	assert.True(t, hc.Transport.(*http.Transport).TLSClientConfig.InsecureSkipVerify)
}

func TestAuthHeader(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		auth camunda.Auth
		want string
	}{
		{"none", camunda.Auth{}, ""},
		{"basic", camunda.Auth{Username: "demo", Password: "s3cret"}, "Basic ZGVtbzpzM2NyZXQ="},
		{"bearer", camunda.Auth{Token: "tok"}, "Bearer tok"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := make(chan string, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got <- r.Header.Get("Authorization")
				w.WriteHeader(http.StatusNoContent)
			}))
			defer srv.Close()
			cfg := Options{Engine: camunda.Config{URL: srv.URL, Auth: tc.auth}, WorkerID: "w", RequestTimeout: time.Second, AsyncResponseTimeout: time.Second}
			hc, err := newHTTPClient(cfg, nil)
			require.NoError(t, err)
			defer hc.CloseIdleConnections()
			require.NoError(t, newEngine(cfg, hc).unlock(context.Background(), "t1"))
			assert.Equal(t, tc.want, <-got)
		})
	}
}

func TestEngineErrorKeepsMessage(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"type":"RestException","message":"External task with id t1 does not exist"}`))
	}))
	defer srv.Close()
	cfg := Options{Engine: camunda.Config{URL: srv.URL + "/"}, WorkerID: "w", RequestTimeout: time.Second, AsyncResponseTimeout: time.Second}
	hc, err := newHTTPClient(cfg, nil)
	require.NoError(t, err)
	defer hc.CloseIdleConnections()
	err = newEngine(cfg, hc).complete(context.Background(), "t1", Complete{})
	require.ErrorIs(t, err, ErrTaskGone)
	assert.Contains(t, err.Error(), "External task with id t1 does not exist")
	assert.Contains(t, err.Error(), "RestException")
}

func TestTLSWithCustomCA(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"version":"7.24.0"}`))
	}))
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600))

	call := func(tlsCfg camunda.TLS) error {
		cfg := Options{Engine: camunda.Config{URL: srv.URL, TLS: tlsCfg}, WorkerID: "w", RequestTimeout: 5 * time.Second, AsyncResponseTimeout: time.Second}
		hc, err := newHTTPClient(cfg, nil)
		require.NoError(t, err)
		defer hc.CloseIdleConnections()
		_, err = newEngine(cfg, hc).version(context.Background())
		return err
	}
	assert.Error(t, call(camunda.TLS{}), "an unknown CA is refused")
	assert.NoError(t, call(camunda.TLS{CAFile: caFile}))
	assert.NoError(t, call(camunda.TLS{InsecureSkipVerify: true}))
}
