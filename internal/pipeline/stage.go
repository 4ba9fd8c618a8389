// Package pipeline is the request pipeline every placement shares: an
// ordered chain of stages that inspect a transaction (Txn) and decide what
// happens to it, in the spirit of CoreDNS plugins and Coraza's phases. The
// proxy is the last link. Stages never import each other; the order is
// written once, in internal/stages.
package pipeline

import "context"

// Stage inspects a request. Request is called once per transaction, after
// the request headers arrived (and the body, when the stage asked for it
// with BodyReader). It returns a Verdict; an error is a failure of the stage
// itself, handled by the stage's fail-open / fail-closed policy.
type Stage interface {
	Name() string
	Request(ctx context.Context, tx *Txn) (Verdict, error)
}

// BodyReader is implemented by stages that need the request body. The body
// is read once, up to the inspection cap, and shared by every stage.
type BodyReader interface {
	WantsBody(tx *Txn) bool
}

// ResponseObserver is implemented by stages that look at the response. It
// is called after the response has been sent (status, headers, bytes and a
// bounded prefix of the body are in tx.Resp). It must not block.
type ResponseObserver interface {
	Response(tx *Txn)
}

// ResponseBodyReader asks for a prefix of the response body to be kept in
// tx.Resp.Body (bounded by listen.limits.response_inspect_bytes).
type ResponseBodyReader interface {
	WantsResponseBody(tx *Txn) bool
}

// Blocking marks a stage that may wait on I/O (a JWKS fetch, Redis). Such a
// stage runs with a deadline it cannot overrun: the pipeline stops waiting
// when the stage's timeout expires. Other stages run inline and a timeout is
// detected after the fact (the verdict of a stage that overran is treated as
// a failure).
type Blocking interface {
	Blocking() bool
}

// Closer is implemented by stages holding resources; Close is called when a
// reload retires the chain.
type Closer interface {
	Close() error
}

// Passive is implemented by stages that only observe and never stop a
// request (discovery). A route whose chain has only passive stages is not
// "protected" in the inventory.
type Passive interface {
	Passive() bool
}

// Layered names the protection layer a stage belongs to (waf, openapi,
// ratelimit, ip, bot, ssrf, graphql); findings carry it. A stage that does
// not implement it is its own layer (its name).
type Layered interface {
	Layer() string
}

// ResponseInspector is implemented by stages that judge a response before
// it reaches the client (the WAF's response phases, OpenAPI response
// validation). WantsResponse is asked once the upstream's status and
// headers are known (tx.Resp.Status, tx.Resp.Header); when any stage says
// yes, the proxy buffers the body up to listen.limits.response_inspect_bytes
// (tx.Resp.Body; tx.RespTruncated() says whether it is all of it) and calls
// InspectResponse. A stage may block (the client gets an error in place of
// the upstream's answer) or rewrite the body with tx.ReplaceResponseBody
// (fields stripped). Streaming responses (SSE, gRPC, WebSocket, bodies with
// no end in sight) are never buffered: InspectResponse is then called with
// the headers only.
type ResponseInspector interface {
	WantsResponse(tx *Txn) bool
	InspectResponse(ctx context.Context, tx *Txn) (Verdict, error)
}
