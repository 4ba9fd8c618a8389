// Package ratelimit decides whether a request may take a token from a
// bucket: a Limiter per configured limit, kept in this process (Local) or
// shared by every gateway through Redis (Redis). Both run the same GCRA
// arithmetic (tokenbucket.GCRA), so a limit behaves the same whichever
// store holds it. The rate_limit stage (internal/stage/ratelimit) picks the
// bucket key and turns results into verdicts.
package ratelimit

import (
	"context"
	"errors"
	"time"

	"github.com/vigil-sec/vigil/internal/tokenbucket"
)

// Limiter takes one token from key's bucket. An error means the store
// could not decide (Redis unreachable, the circuit open): the caller applies
// its failure policy. now is the gateway's clock; a shared store may use
// its own so that replicas agree.
type Limiter interface {
	Allow(ctx context.Context, key string, now time.Time) (Result, error)
}

// Result is one decision.
type Result = tokenbucket.Decision

// ErrUnavailable is wrapped by every error of a store that could not
// decide.
var ErrUnavailable = errors.New("rate limit store unavailable")
