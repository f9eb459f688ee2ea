package criteo

import (
	"context"
	"runtime"
	"runtime/cgo"
	"sync"
	"time"
	"unsafe"
)

// TokenSource hands out a valid token whenever asked, from any number of
// goroutines: it caches the token, refreshes it before it expires, and
// makes one fetch at a time. Goroutines waiting for that fetch wait in Go
// and hold no OS thread.
type TokenSource struct {
	h    *handle
	hook *refreshHook

	mu    sync.Mutex
	fetch *call // the fetch under way, shared by every goroutine waiting
}

// NewTokenSource makes a source for these credentials; client nil means
// the default client. The source keeps its own reference to the client.
// Nothing is fetched before the first Token call.
func NewTokenSource(client *Client, req TokenRequest) (*TokenSource, error) {
	clientPtr, err := client.acquire()
	if err != nil {
		return nil, err
	}
	defer client.release()
	hook := &refreshHook{}
	hookHandle := cgo.NewHandle(hook)
	ptr, err := newSource(clientPtr, req, hookHandle)
	if err != nil {
		hookHandle.Delete()
		return nil, err
	}
	free := func(ptr unsafe.Pointer) {
		freeSource(ptr)
		hookHandle.Delete()
	}
	s := &TokenSource{h: newHandle("token source", ptr, free), hook: hook}
	runtime.SetFinalizer(s, (*TokenSource).Close)
	return s, nil
}

// Token returns a valid token: TokenContext without a context.
func (s *TokenSource) Token() (*Token, error) {
	return s.TokenContext(context.Background())
}

// TokenContext returns a valid token: the cached one, or a new one when
// due. When ctx is done first, it returns at once with an error for which
// errors.Is(err, ctx.Err()) holds; the fetch it leaves goes on within the
// client's time limits, and its token is cached for the next caller.
// Other errors are *Error.
func (s *TokenSource) TokenContext(ctx context.Context) (*Token, error) {
	if ctx.Err() != nil {
		return nil, contextError(ctx)
	}
	ptr, err := s.h.acquire()
	if err != nil {
		return nil, err
	}
	token, err, ready := trySourceToken(ptr)
	s.h.release()
	if ready {
		return token, err
	}
	fetch, err := s.currentFetch()
	if err != nil {
		return nil, err
	}
	return fetch.wait(ctx)
}

// currentFetch returns the fetch under way, starting one if none is.
func (s *TokenSource) currentFetch() (*call, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fetch != nil {
		return s.fetch, nil
	}
	ptr, err := s.h.acquire()
	if err != nil {
		return nil, err
	}
	var fetch *call
	finished := func() {
		s.h.release()
		s.mu.Lock()
		if s.fetch == fetch {
			s.fetch = nil
		}
		s.mu.Unlock()
	}
	fetch = startCall(func() (*Token, error) { return sourceToken(ptr) }, finished)
	s.fetch = fetch
	return fetch, nil
}

// Invalidate drops the cached token (after the API answered 401 to it):
// the next Token fetches a new one.
func (s *TokenSource) Invalidate() {
	s.with(func(ptr unsafe.Pointer) error {
		invalidateSource(ptr)
		return nil
	})
}

// invalidateIfCurrent drops the cached token if it is still the one the
// API refused: of many requests refused with one token, only the first
// causes a fetch.
func (s *TokenSource) invalidateIfCurrent(refused string) {
	s.with(func(ptr unsafe.Pointer) error {
		if token, _, ready := trySourceToken(ptr); !ready || token == nil || token.AccessToken == refused {
			invalidateSource(ptr)
		}
		return nil
	})
}

// SetRefreshMargin refreshes this long before expiry (whole seconds, up
// to 24 h) instead of the default, the smaller of 60 s and half the lifetime.
func (s *TokenSource) SetRefreshMargin(margin time.Duration) error {
	return s.with(func(ptr unsafe.Pointer) error { return setRefreshMargin(ptr, margin) })
}

// SetRefreshCallback calls fn with every token the source fetches from
// then on, e.g. to persist a rotated RefreshToken; nil removes it. Calls
// come one at a time, in the order of the fetches, on the goroutine
// doing the fetch, before the goroutines waiting for it get the token.
// fn may call Token (which answers with the token fn was given) and
// Invalidate; a panic in fn crashes the program, as in any goroutine.
func (s *TokenSource) SetRefreshCallback(fn func(*Token)) {
	if fn == nil {
		s.hook.fn.Store(nil)
	} else {
		s.hook.fn.Store(&fn)
	}
}

// Close frees the source once the calls under way have finished; it
// returns at once, and may be called more than once. Those calls end
// normally; later ones fail with an error matching ErrClosed.
func (s *TokenSource) Close() {
	if s != nil {
		s.h.close()
	}
}

// with runs f on the C source, unless the source is closed.
func (s *TokenSource) with(f func(unsafe.Pointer) error) error {
	ptr, err := s.h.acquire()
	if err != nil {
		return err
	}
	defer s.h.release()
	return f(ptr)
}
