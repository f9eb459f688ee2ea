// Package criteo obtains OAuth2 access tokens from Criteo's API through
// libcriteo_oauth. A Client and a TokenSource are safe for concurrent use
// by many goroutines.
//
//	client, err := criteo.NewClient()
//	if err != nil { ... }
//	defer client.Close()
//	token, err := client.GetToken(criteo.TokenRequest{
//		GrantType: "client_credentials", ClientID: id, ClientSecret: secret,
//	})
//	if errors.Is(err, criteo.ErrUnauthorized) { ... }
package criteo

/*
#include "criteo_oauth.h"
*/
import "C"

import (
	"runtime"
	"sync"
	"time"
)

// Client is a configured connection pool to the token endpoint. A nil
// *Client means the library's process-wide default client.
type Client struct {
	mu  sync.RWMutex // held for reading during calls, for writing by Close
	ptr *C.criteo_client
}

type options struct {
	host           string
	connectTimeout time.Duration
	totalTimeout   time.Duration
	maxRetries     int
	caFile         string
	proxy          *string
	userAgent      string
}

// Option configures a Client.
type Option func(*options)

// WithHost sets the API's base URL (default https://api.criteo.com).
func WithHost(baseURL string) Option { return func(o *options) { o.host = baseURL } }

// WithTimeouts sets the connect and total time limits (0 keeps the
// defaults, 10 s and 30 s). The total covers retries and their waits.
func WithTimeouts(connect, total time.Duration) Option {
	return func(o *options) { o.connectTimeout, o.totalTimeout = connect, total }
}

// WithMaxRetries sets how many times a failed call may be retried (0 to 10, default 2).
func WithMaxRetries(n int) Option { return func(o *options) { o.maxRetries = n } }

// WithCAFile trusts exactly the certificates in this PEM bundle.
func WithCAFile(path string) Option { return func(o *options) { o.caFile = path } }

// WithProxy sends requests through this http:// CONNECT proxy; "" means
// no proxy whatever the environment says.
func WithProxy(url string) Option { return func(o *options) { o.proxy = &url } }

// WithUserAgent puts your product token first in the User-Agent header.
func WithUserAgent(product string) Option { return func(o *options) { o.userAgent = product } }

// NewClient makes a client. Errors are *Error (ErrInvalidArgument for a
// refused option, with a message naming it).
func NewClient(opts ...Option) (*Client, error) {
	o := options{maxRetries: -1}
	for _, opt := range opts {
		opt(&o)
	}
	if o.maxRetries < -1 || o.maxRetries > 10 {
		return nil, &Error{Status: StatusInvalidArgument, Message: "max retries must be between 0 and 10", RetryAfter: -1}
	}
	ptr, err := buildClient(&o)
	if err != nil {
		return nil, err
	}
	c := &Client{ptr: ptr}
	runtime.SetFinalizer(c, (*Client).Close)
	return c, nil
}

// GetToken asks the endpoint for a token. Safe for concurrent use.
func (c *Client) GetToken(req TokenRequest) (*Token, error) {
	if c == nil {
		return getToken(nil, req)
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.ptr == nil {
		return nil, closedError("client")
	}
	return getToken(c.ptr, req)
}

// Close frees the client, after calls under way have finished. Later
// calls fail with ErrInvalidArgument; Close may be called more than once.
// Token sources made from the client keep working.
func (c *Client) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ptr != nil {
		freeClient(c.ptr)
		c.ptr = nil
	}
}

func closedError(what string) error {
	return &Error{Status: StatusInvalidArgument, Message: "the " + what + " is closed", RetryAfter: -1}
}
