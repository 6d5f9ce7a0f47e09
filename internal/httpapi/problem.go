package httpapi

import (
	"encoding/json"
	"net/http"
)

// Problem is an RFC 9457 problem document. Extra members (correlationId, the process's error
// body) go in Ext and are written at the top level.
type Problem struct {
	Type   string `json:"type,omitempty"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	Ext    map[string]any
}

// problemTypeBase prefixes our problem type URIs; they name the problem, they are not fetched.
const problemTypeBase = "urn:camunda-waitroom:problem:"

func writeProblem(w http.ResponseWriter, p Problem) {
	m := map[string]any{}
	for k, v := range p.Ext {
		m[k] = v
	}
	if p.Type != "" {
		m["type"] = problemTypeBase + p.Type
	}
	m["title"] = p.Title
	m["status"] = p.Status
	if p.Detail != "" {
		m["detail"] = p.Detail
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(m)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
