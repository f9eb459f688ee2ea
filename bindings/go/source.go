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

// TokenSource hands out a valid token whenever asked, from any number of
// goroutines: it caches the token, refreshes it before it expires, and
// makes one fetch at a time.
type TokenSource struct {
	mu  sync.RWMutex // held for reading during calls, for writing by Close
	ptr *C.criteo_token_source
}

// NewTokenSource makes a source for these credentials; client nil means
// the default client. The source keeps its own reference to the client.
// Nothing is fetched before the first Token call.
func NewTokenSource(client *Client, req TokenRequest) (*TokenSource, error) {
	var clientPtr *C.criteo_client
	if client != nil {
		client.mu.RLock()
		defer client.mu.RUnlock()
		if client.ptr == nil {
			return nil, closedError("client")
		}
		clientPtr = client.ptr
	}
	ptr, err := newSource(clientPtr, req)
	if err != nil {
		return nil, err
	}
	s := &TokenSource{ptr: ptr}
	runtime.SetFinalizer(s, (*TokenSource).Close)
	return s, nil
}

// Token returns a valid token: the cached one, or a new one when due.
func (s *TokenSource) Token() (*Token, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.ptr == nil {
		return nil, closedError("token source")
	}
	return sourceToken(s.ptr)
}

// Invalidate drops the cached token (after the API answered 401 to it).
func (s *TokenSource) Invalidate() {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.ptr != nil {
		invalidateSource(s.ptr)
	}
}

// SetRefreshMargin refreshes this long before expiry (whole seconds, up
// to 24 h) instead of the default, the smaller of 60 s and half the lifetime.
func (s *TokenSource) SetRefreshMargin(margin time.Duration) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.ptr == nil {
		return closedError("token source")
	}
	return setRefreshMargin(s.ptr, margin)
}

// Close frees the source, after calls under way have finished; it may be
// called more than once.
func (s *TokenSource) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ptr != nil {
		freeSource(s.ptr)
		s.ptr = nil
	}
}
