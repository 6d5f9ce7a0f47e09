// Package contracttest holds the contract test of the HTTP API (contract_test.go): schemathesis,
// a property-based fuzzer for OpenAPI documents, runs against a real daemon backed by the real
// engine and PostgreSQL, and holds every answer to the document the daemon serves
// (internal/httpapi/openapi.json, checked byte for byte); a follow-up query then proves that no
// request left a half-written row. schemathesis comes from PyPI, pinned with hashes in requirements.txt, in a
// virtualenv that scripts/schemathesis.sh creates. The package has no code outside its test.
package contracttest
