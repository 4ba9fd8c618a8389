package pipeline

import "context"

type interceptedKey struct{}

// WithIntercepted marks a connection's context as one whose TLS Vigil
// intercepted (the egress listener terminated the app's outbound TLS
// with a minted certificate): its events carry tls.intercepted.
func WithIntercepted(ctx context.Context) context.Context {
	return context.WithValue(ctx, interceptedKey{}, true)
}

// Intercepted reports whether ctx is of an intercepted connection.
func Intercepted(ctx context.Context) bool {
	v, _ := ctx.Value(interceptedKey{}).(bool)
	return v
}
