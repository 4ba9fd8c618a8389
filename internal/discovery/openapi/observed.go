package openapi

import "time"

// Observed is one endpoint as seen in traffic: what the discovery inventory
// knows about a (host, method, path template).
type Observed struct {
	Host   string
	Method string
	// Path is the templated path with {name} parameters, e.g.
	// /products/{parameter}.
	Path                string
	Hits                int64
	FirstSeen, LastSeen time.Time
	QueryParams         []ObservedParam
	HeaderParams        []ObservedParam
	RequestContentTypes []string
	// RequestSchema is the JSON Schema (2020-12) learned from JSON request
	// bodies; "required" lists the fields present in every sample.
	RequestSchema map[string]any
	Responses     map[int]ObservedResponse
	// Auth lists the kinds of credentials seen: none, bearer_jwt, bearer,
	// basic, api_key, mtls.
	Auth []string
	// Sensitive lists the data classes seen (email, card, ...).
	Sensitive []string
}

// ObservedParam is a query or header parameter seen in traffic. Required
// means it was present in every request seen.
type ObservedParam struct {
	Name     string
	Required bool
	Schema   map[string]any
}

// ObservedResponse is what was seen for one status code.
type ObservedResponse struct {
	ContentType string
	Schema      map[string]any
	Count       int64
}
