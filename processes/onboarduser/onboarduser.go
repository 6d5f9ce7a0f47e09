// Package onboarduser owns the onboard-user process: its BPMN model (embedded) and the
// handlers of its two external tasks.
//
//	start -> create-account -> prepare-response -> end
//	              | INVALID_INPUT (boundary error) ----^
//
// create-account validates the input variables `email` and `name` and "creates the account"
// (sets `accountId` and the Json variable `user`), or throws INVALID_INPUT with an `error`
// Json variable. prepare-response is the generic result handler (topics/result): it marks the
// process_store row named by `correlationId` DONE with {"accountId":..,"user":{..}}, or ERROR
// with the `error` variable's value.
package onboarduser

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"

	_ "embed"

	"github.com/camunda-waitroom/camunda-waitroom/topics"
	"github.com/camunda-waitroom/camunda-waitroom/topics/result"
)

// ProcessKey is the BPMN process id, what /process-definition/key/{key}/start takes.
const ProcessKey = "onboard-user"

// ModelName is the deployment resource name of the model.
const ModelName = "onboard-user.bpmn"

// Topic and handler names (they are the same: config topics[].handler defaults to the name).
const (
	TopicCreateAccount   = "onboard-user/create-account"
	TopicPrepareResponse = "onboard-user/prepare-response"
)

// ErrorCodeInvalidInput is the BPMN error create-account throws for bad input; the model
// catches it on create-account.
const ErrorCodeInvalidInput = "INVALID_INPUT"

// Default result settings of prepare-response, used where topics[].result leaves them empty.
var (
	DefaultResultVariables = []string{"accountId", "user"}
	DefaultErrorVariable   = "error"
)

// BPMN is the process model.
//
//go:embed onboard-user.bpmn
var BPMN []byte

// Register adds the process's handlers to reg; prepare-response finishes rows through f.
func Register(reg *topics.Registry, f result.Finisher) {
	reg.Register(TopicCreateAccount, func(topics.Topic, topics.Deps) (topics.Handler, error) {
		return topics.HandlerFunc(CreateAccount), nil
	})
	reg.Register(TopicPrepareResponse, PrepareResponseFactory(f))
}

// PrepareResponseFactory is the factory of prepare-response writing through f: the result
// handler with this process's defaults (payload accountId and user, error variable `error`)
// where the topic's result.Options (topics.Topic.HandlerOptions) leave them empty.
func PrepareResponseFactory(f result.Finisher) topics.Factory {
	return func(topic topics.Topic, deps topics.Deps) (topics.Handler, error) {
		o, err := result.TopicOptions(topic)
		if err != nil {
			return nil, err
		}
		if len(o.Variables) == 0 {
			o.Variables = DefaultResultVariables
		}
		if o.ErrorVariable == "" {
			o.ErrorVariable = DefaultErrorVariable
		}
		return result.New(o, f, deps.Log)
	}
}

// User is the account create-account makes, stored as the Json variable `user`.
type User struct {
	AccountID string `json:"accountId"`
	Email     string `json:"email"`
	Name      string `json:"name"`
}

// InputError is the body of the `error` variable for INVALID_INPUT, and so the row's error
// body.
type InputError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// CreateAccount is the create-account handler: it validates `email` (must contain "@") and
// `name` (not blank), then sets `accountId` and `user`. Invalid input throws INVALID_INPUT
// with an `error` variable the boundary event carries to prepare-response.
func CreateAccount(ctx context.Context, t *topics.Task) (topics.Complete, error) {
	email, _ := t.String("email")
	name, _ := t.String("name")
	email, name = strings.TrimSpace(email), strings.TrimSpace(name)
	var bad *InputError
	switch {
	case !strings.Contains(email, "@"):
		bad = &InputError{Code: ErrorCodeInvalidInput, Field: "email", Message: fmt.Sprintf("email %q must contain @", email)}
	case name == "":
		bad = &InputError{Code: ErrorCodeInvalidInput, Field: "name", Message: "name must not be empty"}
	}
	if bad != nil {
		ev, err := topics.JSONVar(bad)
		if err != nil {
			return topics.Complete{}, err
		}
		return topics.Complete{}, &topics.BPMNError{Code: ErrorCodeInvalidInput, Message: bad.Message, Variables: topics.Variables{DefaultErrorVariable: ev}}
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return topics.Complete{}, fmt.Errorf("account id: %w", err)
	}
	u := User{AccountID: "acc-" + hex.EncodeToString(b[:]), Email: email, Name: name}
	uv, err := topics.JSONVar(u)
	if err != nil {
		return topics.Complete{}, err
	}
	return topics.Complete{Variables: topics.Variables{
		"accountId": topics.StringVar(u.AccountID),
		"user":      uv,
	}}, nil
}
