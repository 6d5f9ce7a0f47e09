package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/camunda-waitroom/camunda-waitroom/repo"
)

// TestIDConflictAnswers409: a store's ErrIDConflict (an id the SQL Server table cannot hold
// beside one differing only in case) is the client's to fix, never a 503 or someone else's
// result.
func TestIDConflictAnswers409(t *testing.T) {
	s := &Server{log: zap.NewNop()}
	rec := httptest.NewRecorder()
	s.storeProblem(rec, "register the wait", fmt.Errorf("waitroom: register ABC: create ABC: %w", repo.ErrIDConflict))
	if rec.Code != http.StatusConflict {
		t.Fatalf("status %d, want 409", rec.Code)
	}
	var p struct{ Type, Detail string }
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(p.Type, "correlation-id-conflict") || !strings.Contains(p.Detail, "letter case") {
		t.Fatalf("problem %+v", p)
	}
}
