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
// and hold no OS thread. With a store (WithStore, WithDefaultStore), the
// token and that one fetch at a time are shared with other sources and
// other processes.
type TokenSource struct {
	h    *handle
	hook *refreshHook

	mu    sync.Mutex
	fetch *call // the fetch under way, shared by every goroutine waiting
}

type sourceOptions struct {
	store bool    // a store option was given
	place *string // its directory or URL; nil for the default
}

// SourceOption configures a TokenSource (see NewTokenSource).
type SourceOption func(*sourceOptions)

// WithStore shares the source's token with every source of the same
// lineage that uses the same store, in this process or any other (Go,
// Ruby, C, the criteo-token command): one cached token and one fetch at a
// time for all of them, and a rotated refresh token that no process
// loses. The lineage is the host, the grant, ClientID and ClientSecret,
// and for the authorization_code and refresh_token grants the Code or
// RefreshToken the source was made with.
//
// place is a directory, shared by the processes of this user on this
// host, or a Redis URL shared by the hosts of a fleet:
// redis://[[user]:password@]host[:port][/db][?prefix=P], or rediss:// for
// TLS (verified with the client's CA file or the system's trust store).
// The password never appears in an error. Records are sealed (AES-256-GCM
// under a key derived from the client secret).
//
// A directory is created (mode 0700) when it does not exist, and
// refused when it is a symbolic link, is not owned by this user, or is
// open to group or others; so are "" (use WithDefaultStore for the
// default) and a URL that cannot be read. NewTokenSource then fails with
// an error matching ErrInvalidArgument whose message says why. A store
// on NFS is not supported. Once the source is made, a store that stops
// working (a full disk, Redis down) never fails Token: see StoreError.
func WithStore(place string) SourceOption {
	return func(o *sourceOptions) { o.store, o.place = true, &place }
}

// WithDefaultStore is WithStore with the library's default: the store
// $CRITEO_OAUTH_STORE names when it is set and not empty, else
// $XDG_RUNTIME_DIR/criteo-oauth when XDG_RUNTIME_DIR names an existing
// directory by an absolute path, else /tmp/criteo-oauth-<uid>. The
// criteo-token command uses it.
func WithDefaultStore() SourceOption {
	return func(o *sourceOptions) { o.store, o.place = true, nil }
}

// NewTokenSource makes a source for these credentials; client nil means
// the default client. The source keeps its own reference to the client.
// Nothing is fetched before the first Token call. Without a store option
// (WithStore, WithDefaultStore; the last one given counts), the token is
// cached for this source alone. Errors are *Error (ErrInvalidArgument
// for refused credentials or a refused store).
func NewTokenSource(client *Client, req TokenRequest, opts ...SourceOption) (*TokenSource, error) {
	return makeTokenSource(client, opts, func(clientPtr unsafe.Pointer, hook cgo.Handle) (unsafe.Pointer, error) {
		return newSource(clientPtr, req, hook)
	})
}

// NewNamedTokenSource makes a source for a named lineage: the
// refresh_token lineage that name (e.g. "customer-42") names for clientID
// and clientSecret, on the client's host, in the source's store, rather
// than one that a code or a refresh token starts. A program that works
// for many accounts names each account's lineage, and finds it again in
// the store after a restart without keeping any refresh token itself
// (the criteo-token command's login names its lineage "criteo-token").
// client nil means the default client; the source keeps its own
// reference to it.
//
// start is the token to start the lineage from, as Consent.Finish,
// Client.GetTokenPKCE or Client.GetToken (authorization_code) returned it,
// with a refresh token: the source starts from the library's own copy of
// it, so a Token made by hand, or one from a TokenSource, is refused
// (ErrInvalidArgument). The source serves it while it is valid, then
// renews it with its refresh token, rotating as any source does. With a
// store option (WithStore, WithDefaultStore), NewNamedTokenSource writes
// it there at once, waiting within the client's time limit for another
// process that holds the lineage, and replacing what the store held
// under the name: the lineage starts over from this token. When that
// write fails, StoreError says why, and the token is written at the next
// fetch.
//
// start nil: the lineage is taken from the store. Token then fails with
// an error matching ErrStore ("no token is stored under the name ...")
// while the store holds nothing under the name, sending nothing, and
// StoreError stays nil (the store works).
//
// clientSecret is required (it keys and seals the store's record); name
// must not be empty. Errors are *Error (ErrInvalidArgument for a refused
// argument, a start token without a refresh token, or a refused store).
func NewNamedTokenSource(client *Client, clientID, clientSecret, name string, start *Token,
	opts ...SourceOption) (*TokenSource, error) {
	var native *nativeToken
	if start != nil {
		if start.native == nil {
			return nil, invalidArgument("the start token must be one that Consent.Finish, Client.GetTokenPKCE or " +
				"Client.GetToken returned, with a refresh token")
		}
		native = start.native
	}
	return makeTokenSource(client, opts, func(clientPtr unsafe.Pointer, hook cgo.Handle) (unsafe.Pointer, error) {
		return newNamedSource(clientPtr, clientID, clientSecret, name, native, hook)
	})
}

// makeTokenSource makes a source with create, then gives it its store.
func makeTokenSource(client *Client, opts []SourceOption,
	create func(clientPtr unsafe.Pointer, hook cgo.Handle) (unsafe.Pointer, error)) (*TokenSource, error) {
	var o sourceOptions
	for _, opt := range opts {
		opt(&o)
	}
	if o.place != nil {
		if err := checkNoNUL("store", *o.place); err != nil {
			return nil, err
		}
	}
	clientPtr, err := client.acquire()
	if err != nil {
		return nil, err
	}
	defer client.release()
	hook := &refreshHook{}
	hookHandle := cgo.NewHandle(hook)
	ptr, err := create(clientPtr, hookHandle)
	if err != nil {
		hookHandle.Delete()
		return nil, err
	}
	// The C source keeps the client, and its trace, alive.
	var trace *traceHook
	if client != nil {
		trace = client.trace
	}
	trace.retain()
	free := func(ptr unsafe.Pointer) {
		freeSource(ptr)
		hookHandle.Delete()
		trace.release()
	}
	if o.store {
		if err := setStore(ptr, o.place); err != nil {
			free(ptr)
			return nil, err
		}
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

// Invalidate drops the cached token, whichever it is: the next Token
// fetches a new one (one fetch for all goroutines), unless another
// process sharing the store has stored a newer one. After an API 401,
// prefer Reject, which drops the token only if it is still the one the
// API refused. With a store, the token is dropped there too.
func (s *TokenSource) Invalidate() {
	s.with(func(ptr unsafe.Pointer) error {
		invalidateSource(ptr)
		return nil
	})
}

// Reject drops the cached token if it is still accessToken, for when the
// API answered 401 to it: the next Token fetches a new one, unless
// another goroutine or process already has. Of many requests refused
// with one token, only the first rejection causes a fetch, and a late
// 401 for a token already replaced drops nothing. With a store, the
// token is dropped there too, so no process sharing it is handed that
// token again. Transport calls it on a 401. A closed source ignores it.
func (s *TokenSource) Reject(accessToken string) {
	s.with(func(ptr unsafe.Pointer) error {
		rejectSource(ptr, accessToken)
		return nil
	})
}

// StoreError is nil when the source has no store, or when its store's
// last operation succeeded; else it is the *Error (matching ErrStore) of
// that operation, such as a write to a full disk. A store failure never
// fails Token: the fetched token is returned all the same, but until the
// store works again other processes do not see it. On a closed source it
// is an error matching ErrClosed.
func (s *TokenSource) StoreError() error {
	return s.with(storeError)
}

// SetRefreshMargin refreshes this long before expiry (0 to 24 h, rounded
// up to whole seconds; a negative margin is refused), exactly, instead of
// the default: a quarter of the lifetime,
// from 30 s to 5 min and at most half the lifetime, shortened by a random
// jitter of up to 10 % so that processes started together spread their
// refreshes.
func (s *TokenSource) SetRefreshMargin(margin time.Duration) error {
	return s.with(func(ptr unsafe.Pointer) error { return setRefreshMargin(ptr, margin) })
}

// SetRefreshCallback calls fn with every token the source fetches from
// then on, e.g. to persist a rotated RefreshToken; nil removes it. Calls
// come one at a time, in the order of the fetches, before the goroutines
// waiting for a fetch get its token: on the goroutine doing the fetch, or,
// for a refresh made in the background while the old token is still
// served, on the library's own thread (cgo runs fn there as a goroutine).
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
