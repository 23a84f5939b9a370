package chatbus

import "context"

type requestIDKey struct{}

// WithRequestID marks ctx with the id of the request that caused the work
// (the web gateway's X-Request-Id), so that the logs of every process it
// passes through can be tied together. It changes nothing of the work.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns ctx's request id, "" when it has none.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}
