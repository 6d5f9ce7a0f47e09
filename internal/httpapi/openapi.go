package httpapi

import (
	"bytes"
	_ "embed"
	"net/http"
)

// openAPIDocument is the OpenAPI 3.1 document of this API, checked in beside the code it
// describes. Tests hold the two together: every route of the server is in it and the other
// way round (openapi_test.go), and the contract test (internal/contracttest) fuzzes a running
// daemon against it.
//
//go:embed openapi.json
var openAPIDocument []byte

// OpenAPI returns the OpenAPI 3.1 document of the HTTP API, as GET /openapi.json serves it: the
// published contract for front services in any language, and what contract tests load.
func OpenAPI() []byte { return bytes.Clone(openAPIDocument) }

// openAPI serves the document. It is open like /healthz: it holds no secret, and a client
// needs it before it has a token.
func (s *Server) openAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(openAPIDocument)
}
