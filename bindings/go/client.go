// Package criteo obtains OAuth2 access tokens from Criteo's API through
// libcriteo_oauth. A Client and a TokenSource are safe for concurrent use
// by many goroutines; calls take a context, and goroutines waiting for a
// token hold no OS thread. Transport authorizes an http.Client's requests.
//
// A Consent is the user's consent step of the authorization code flow,
// with PKCE: its URL sends the user to Criteo's consent page, and Finish
// exchanges the code the user's browser brings back (or, for an app that
// finishes elsewhere, Client.GetTokenPKCE with the kept CodeVerifier).
// The token it gives starts a refresh_token TokenSource, or a named
// lineage in a store (NewNamedTokenSource) that a program finds again
// after a restart by its name alone.
//
// The package finds the library with pkg-config (package criteo-oauth).
package criteo

/*
#include "criteo_oauth.h"
*/
import "C"

import (
	"context"
	"runtime"
	"time"
	"unsafe"
)

// Client is a configured connection pool to the token endpoint. A nil
// *Client means the library's process-wide default client.
type Client struct {
	h     *handle
	trace *traceHook // nil without WithTrace
}

// options holds what the Options set; nil means not set, so that a value
// given explicitly (even "" or -1) reaches the library, which refuses it,
// and never quietly becomes the default.
type options struct {
	host           *string
	consentURL     *string
	connectTimeout time.Duration
	totalTimeout   time.Duration
	maxRetries     *int
	maxConcurrent  *int
	caFile         *string
	proxy          *string
	userAgent      *string
	trace          func(Event)
}

// Option configures a Client.
type Option func(*options)

// WithHost sets the API's base URL (default https://api.criteo.com); ""
// is refused, as every empty setting is.
func WithHost(baseURL string) Option { return func(o *options) { o.host = &baseURL } }

// WithConsentURL sets where NewConsent sends the user: the consent page,
// by default https://consent.criteo.com/request; for a sandbox or a test.
// It is read as the host is: https, or http to a loopback host, with no
// query, fragment or credentials; "" is refused.
func WithConsentURL(url string) Option { return func(o *options) { o.consentURL = &url } }

// WithTimeouts sets the connect and total time limits (0 keeps the
// defaults: 30 s for the total, and 10 s or the total when that is smaller
// for connecting). The total covers retries and their waits. A negative
// limit, or one above 4294967295 ms (about 49.7 days), is refused; one
// below a millisecond counts as 1 ms.
func WithTimeouts(connect, total time.Duration) Option {
	return func(o *options) { o.connectTimeout, o.totalTimeout = connect, total }
}

// WithMaxRetries sets how many times a failed call may be retried (0 to 10, default 2).
func WithMaxRetries(n int) Option { return func(o *options) { o.maxRetries = &n } }

// WithMaxConcurrentRequests sets how many token requests the client
// sends at once, from all its callers and token sources together (1 to
// 1024, default 8); the others wait their turn within their own time
// limits.
func WithMaxConcurrentRequests(n int) Option { return func(o *options) { o.maxConcurrent = &n } }

// WithCAFile trusts exactly the certificates in this PEM bundle.
func WithCAFile(path string) Option { return func(o *options) { o.caFile = &path } }

// WithProxy sends requests through this http:// CONNECT proxy; "" means
// no proxy whatever the environment says.
func WithProxy(url string) Option { return func(o *options) { o.proxy = &url } }

// WithUserAgent puts your product token first in the User-Agent header.
func WithUserAgent(product string) Option { return func(o *options) { o.userAgent = &product } }

// NewClient makes a client. Errors are *Error (ErrInvalidArgument for a
// refused option, with a message naming it).
func NewClient(opts ...Option) (*Client, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.maxRetries != nil && (*o.maxRetries < 0 || *o.maxRetries > 10) {
		return nil, invalidArgument("max retries must be between 0 and 10")
	}
	if o.maxConcurrent != nil && (*o.maxConcurrent < 1 || *o.maxConcurrent > 1024) {
		return nil, invalidArgument("max concurrent requests must be between 1 and 1024")
	}
	if o.connectTimeout < 0 || o.totalTimeout < 0 {
		return nil, invalidArgument("timeouts must not be negative")
	}
	if o.connectTimeout > mostMilliseconds || o.totalTimeout > mostMilliseconds {
		return nil, invalidArgument("timeouts must be at most 4294967295 ms (about 49.7 days)")
	}
	var trace *traceHook
	if o.trace != nil {
		trace = newTraceHook(o.trace)
	}
	ptr, err := buildClient(&o, trace)
	if err != nil {
		trace.release()
		return nil, err
	}
	free := func(ptr unsafe.Pointer) {
		freeClient(ptr)
		trace.release()
	}
	c := &Client{h: newHandle("client", unsafe.Pointer(ptr), free), trace: trace}
	runtime.SetFinalizer(c, (*Client).Close)
	return c, nil
}

// GetToken asks the endpoint for a token: GetTokenContext without a
// context.
func (c *Client) GetToken(req TokenRequest) (*Token, error) {
	return c.GetTokenContext(context.Background(), req)
}

// GetTokenContext asks the endpoint for a token. When ctx is done first,
// it returns at once with an error for which errors.Is(err, ctx.Err())
// holds; the request it abandons ends within the client's time limits,
// and its token is dropped. Other errors are *Error. Safe for concurrent
// use. A token with a refresh token (the authorization_code grant) can
// start a named lineage: see NewNamedTokenSource.
func (c *Client) GetTokenContext(ctx context.Context, req TokenRequest) (*Token, error) {
	if ctx.Err() != nil {
		return nil, contextError(ctx)
	}
	fields, err := newRequestFields(req)
	if err != nil {
		return nil, err
	}
	return c.exchange(ctx, fields, getToken)
}

// exchange runs fetch with the client's C pointer and fields on a
// goroutine of its own (see call), then frees fields and releases the
// client, whether ctx abandons it or not.
func (c *Client) exchange(ctx context.Context, fields *cFields,
	fetch func(unsafe.Pointer, *cFields) (*Token, error)) (*Token, error) {
	ptr, err := c.acquire()
	if err != nil {
		fields.free()
		return nil, err
	}
	run := func() (*Token, error) { return fetch(ptr, fields) }
	finished := func() {
		fields.free()
		c.release()
	}
	return startCall(run, finished).wait(ctx)
}

// GetTokenPKCE exchanges an authorization code with its PKCE verifier:
// GetTokenPKCEContext without a context.
func (c *Client) GetTokenPKCE(req PKCERequest) (*Token, error) {
	return c.GetTokenPKCEContext(context.Background(), req)
}

// GetTokenPKCEContext exchanges an authorization code with its PKCE
// verifier (RFC 7636), for an app that made the consent elsewhere
// (NewConsent in another request of a web app, or on another host) and
// kept its CodeVerifier. The request is sent once and never retried (a
// code is single-use). A code that was used or expired, or a verifier
// that does not match the consent's challenge, is an error matching
// ErrBadRequest with Code "invalid_grant"; no error holds the secret, the
// code or the verifier. When ctx is done first, it returns at once with
// an error for which errors.Is(err, ctx.Err()) holds; the exchange it
// abandons still ends, within the client's time limits, and its token is
// lost with the code. Other errors are *Error. Safe for concurrent use.
//
// The token's RefreshToken starts a refresh_token TokenSource, or, given
// to NewNamedTokenSource as it is, a named lineage.
func (c *Client) GetTokenPKCEContext(ctx context.Context, req PKCERequest) (*Token, error) {
	if ctx.Err() != nil {
		return nil, contextError(ctx)
	}
	fields, err := newPKCEFields(req)
	if err != nil {
		return nil, err
	}
	return c.exchange(ctx, fields, getTokenPKCE)
}

// Close frees the client once the calls under way have finished; it
// returns at once, and may be called more than once. Those calls end
// normally; later ones fail with an error matching ErrClosed. Token
// sources made from the client keep working.
func (c *Client) Close() {
	if c != nil {
		c.h.close()
	}
}

// acquire returns the C client for one call (NULL for the default
// client), which must then call release.
func (c *Client) acquire() (unsafe.Pointer, error) {
	if c == nil {
		return nil, nil
	}
	return c.h.acquire()
}

func (c *Client) release() {
	if c != nil {
		c.h.release()
	}
}
