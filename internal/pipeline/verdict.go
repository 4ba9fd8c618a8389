package pipeline

import (
	"net/http"
	"time"

	"github.com/vigil-sec/vigil/internal/event"
)

// Action is what a stage decides about a request.
type Action uint8

// Actions, in increasing order of severity.
const (
	Allow Action = iota
	Challenge
	StepUp
	Block
)

// String returns the decision name used in events.
func (a Action) String() string {
	switch a {
	case Block:
		return event.DecisionBlock
	case Challenge:
		return event.DecisionChallenge
	case StepUp:
		return event.DecisionStepUp
	}
	return event.DecisionAllow
}

// Verdict is a stage's decision: a plain value, kept apart from error (a
// stage that fails returns an error; a stage that blocks returns a Verdict).
type Verdict struct {
	Action Action
	// Status is the HTTP status sent when the verdict stops the request;
	// zero picks the action's default (403 block and challenge, 401 step-up).
	Status int
	// RuleID, Kind, Severity and Message describe why; they become the
	// finding recorded with the event.
	RuleID   string
	Kind     string
	Severity string
	Message  string
	// Variable and Data say what matched (ARGS:callback, the host): they go
	// on the finding. Data must already be masked when it is a secret.
	Variable string
	Data     string
	Tags     []string
	// RetryAfter, when set, is sent as Retry-After (rate limits).
	RetryAfter time.Duration
	// Header holds extra response headers sent when the verdict stops the
	// request (RateLimit-*, Set-Cookie of a challenge).
	Header http.Header
	// Body and ContentType, when Body is set, replace the JSON error
	// document (a challenge page).
	Body        []byte
	ContentType string
}

// Continue is the verdict that lets a request go on.
var Continue = Verdict{}

// BlockWith is a convenience for a blocking verdict.
func BlockWith(status int, kind, ruleID, msg string) Verdict {
	return Verdict{Action: Block, Status: status, Kind: kind, RuleID: ruleID, Message: msg, Severity: "high"}
}

// HTTPStatus is the status a stopped request is answered with.
func (v Verdict) HTTPStatus() int {
	if v.Status != 0 {
		return v.Status
	}
	switch v.Action {
	case StepUp:
		return http.StatusUnauthorized
	default:
		return http.StatusForbidden
	}
}
