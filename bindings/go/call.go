package criteo

import (
	"context"
	"fmt"
)

// call is one blocking C call running on a goroutine of its own, so that
// callers wait for it in Go: a waiting goroutine holds no OS thread, any
// number of goroutines may wait for the same call, and a context ends the
// wait at once. An abandoned call runs to its end, within the client's
// time limits.
type call struct {
	done  chan struct{}
	token *Token
	err   error
}

// startCall runs fetch on a new goroutine, then finished (which releases
// what the call used) before waking the callers.
func startCall(fetch func() (*Token, error), finished func()) *call {
	c := &call{done: make(chan struct{})}
	go func() {
		c.token, c.err = fetch()
		finished()
		close(c.done)
	}()
	return c
}

// wait returns the call's result (each caller its own copy of the token),
// or, as soon as ctx is done, an error for which errors.Is(err, ctx.Err())
// holds.
func (c *call) wait(ctx context.Context) (*Token, error) {
	select {
	case <-c.done:
		if c.err != nil {
			return nil, c.err
		}
		token := *c.token
		return &token, nil
	case <-ctx.Done():
		return nil, contextError(ctx)
	}
}

func contextError(ctx context.Context) error {
	return fmt.Errorf("criteo: gave up waiting for a token: %w", ctx.Err())
}
