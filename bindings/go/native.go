package criteo

// The cgo glue: every call into libcriteo_oauth and every copy out of it
// lives in this file. Strings coming back are copied into Go memory at
// once; objects the library made are freed only by its own free functions.

/*
#cgo pkg-config: criteo-oauth
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "criteo_oauth.h"

// The refresh callback is criteoGoRefresh (callback.go), reached through a
// trampoline whose signature is exactly criteo_refresh_callback; the
// source's cgo.Handle travels as user_data.
extern void criteoGoRefresh(void *user_data, criteo_token *token);

static void refresh_trampoline(void *user_data, const criteo_token *token) {
	criteoGoRefresh(user_data, (criteo_token *)token);
}

static criteo_status register_refresh(criteo_token_source *source, uintptr_t hook) {
	return criteo_token_source_set_refresh_callback(source, refresh_trampoline, (void *)hook);
}

// The trace callback is criteoGoTrace (trace.go), the client's trace id
// as user_data.
extern void criteoGoTrace(void *user_data, criteo_event *event);

static void trace_trampoline(void *user_data, const criteo_event *event) {
	criteoGoTrace(user_data, (criteo_event *)event);
}

static criteo_status register_trace(criteo_client_builder *builder, uintptr_t id) {
	return criteo_client_builder_set_trace(builder, trace_trampoline, (void *)id);
}
*/
import "C"

import (
	"runtime"
	"runtime/cgo"
	"strings"
	"time"
	"unsafe"
)

func statusName(s Status) string {
	return C.GoString(C.criteo_status_str(C.uint32_t(s)))
}

// cStrings holds C copies of Go strings until free is called.
type cStrings []*C.char

// add returns a C copy of s, or NULL for an optional "" when optional.
func (cs *cStrings) add(s string, optional bool) *C.char {
	if optional && s == "" {
		return nil
	}
	p := C.CString(s)
	*cs = append(*cs, p)
	return p
}

// free wipes each string (it may hold a secret) and frees it.
func (cs cStrings) free() {
	for _, p := range cs {
		C.explicit_bzero(unsafe.Pointer(p), C.strlen(p))
		C.free(unsafe.Pointer(p))
	}
}

// takeError copies a criteo_error into Go and frees it.
func takeError(e *C.criteo_error) error {
	defer C.criteo_error_free(e)
	retryAfter := time.Duration(-1)
	if seconds := int64(C.criteo_error_retry_after(e)); seconds >= 0 {
		retryAfter = time.Duration(seconds) * time.Second
	}
	return &Error{
		Status:      Status(C.criteo_error_status(e)),
		HTTPStatus:  int(C.criteo_error_http_status(e)),
		Code:        optionalString(C.criteo_error_code(e)),
		Description: optionalString(C.criteo_error_description(e)),
		URI:         optionalString(C.criteo_error_uri(e)),
		Message:     C.GoString(C.criteo_error_message(e)),
		RetryAfter:  retryAfter,
	}
}

// takeToken copies a criteo_token into Go and frees it.
func takeToken(t *C.criteo_token) *Token {
	defer C.criteo_token_free(t)
	return copyToken(t)
}

// copyToken copies a criteo_token into Go.
func copyToken(t *C.criteo_token) *Token {
	token := &Token{
		AccessToken:  C.GoString(C.criteo_token_access_token(t)),
		TokenType:    C.GoString(C.criteo_token_token_type(t)),
		RefreshToken: optionalString(C.criteo_token_refresh_token(t)),
		ExpiresIn:    -1,
	}
	if seconds := int64(C.criteo_token_expires_in(t)); seconds >= 0 {
		token.ExpiresIn = time.Duration(seconds) * time.Second
		token.ExpiresAt = time.Unix(int64(C.criteo_token_expires_at(t)), 0)
	}
	return token
}

// keepToken copies a criteo_token from a Client call into Go. One with a
// refresh token can start a named lineage (NewNamedTokenSource), which
// needs the library's own token: that one is kept, shared by the copies
// of the Go token and freed once they are all collected. Any other is
// freed at once.
func keepToken(t *C.criteo_token) *Token {
	token := copyToken(t)
	if token.RefreshToken == "" {
		C.criteo_token_free(t)
		return token
	}
	native := &nativeToken{ptr: unsafe.Pointer(t)}
	runtime.SetFinalizer(native, func(n *nativeToken) { C.criteo_token_free((*C.criteo_token)(n.ptr)) })
	token.native = native
	return token
}

func optionalString(p *C.char) string {
	if p == nil {
		return ""
	}
	return C.GoString(p)
}

// buildClient applies the options to a builder and builds. A refused
// setting is remembered by the builder, so build reports it.
func buildClient(o *options, trace *traceHook) (*C.criteo_client, error) {
	settings := []struct {
		name  string
		value *string
	}{{"base_url", o.host}, {"consent_url", o.consentURL}, {"pem_path", o.caFile}, {"proxy_url", o.proxy},
		{"user_agent", o.userAgent}}
	for _, setting := range settings {
		if setting.value != nil {
			if err := checkNoNUL(setting.name, *setting.value); err != nil {
				return nil, err
			}
		}
	}
	builder := C.criteo_client_builder_new()
	var strs cStrings
	defer strs.free()
	for _, setting := range settings {
		if setting.value != nil {
			setString(builder, setting.name, strs.add(*setting.value, false))
		}
	}
	C.criteo_client_builder_set_timeouts(builder, milliseconds(o.connectTimeout), milliseconds(o.totalTimeout))
	if o.maxRetries != nil {
		C.criteo_client_builder_set_max_retries(builder, C.uint32_t(*o.maxRetries))
	}
	if o.maxConcurrent != nil {
		C.criteo_client_builder_set_max_concurrent_requests(builder, C.uint32_t(*o.maxConcurrent))
	}
	if trace != nil {
		C.register_trace(builder, C.uintptr_t(trace.id))
	}
	var client *C.criteo_client
	var cerr *C.criteo_error
	if C.criteo_client_builder_build(builder, &client, &cerr) != C.CRITEO_OK {
		return nil, takeError(cerr)
	}
	return client, nil
}

// setString gives the builder the string setting of this name (its
// argument's name in C); the builder checks the value.
func setString(builder *C.criteo_client_builder, name string, value *C.char) {
	switch name {
	case "base_url":
		C.criteo_client_builder_set_host(builder, value)
	case "consent_url":
		C.criteo_client_builder_set_consent_url(builder, value)
	case "pem_path":
		C.criteo_client_builder_set_ca_file(builder, value)
	case "proxy_url":
		C.criteo_client_builder_set_proxy(builder, value)
	case "user_agent":
		C.criteo_client_builder_set_user_agent(builder, value)
	}
}

// checkNoNUL refuses a Go string C would see cut short at a NUL byte.
func checkNoNUL(name, value string) error {
	if strings.IndexByte(value, 0) >= 0 {
		return invalidArgument(name + " contains a NUL byte")
	}
	return nil
}

// mostMilliseconds is the longest limit C takes: about 49.7 days.
const mostMilliseconds = time.Duration(^uint32(0)) * time.Millisecond

// milliseconds is d rounded up to a whole millisecond (so that 500µs is
// 1 ms, not 0, which means the default); NewClient has refused anything
// above mostMilliseconds.
func milliseconds(d time.Duration) C.uint32_t {
	return C.uint32_t((d + time.Millisecond - 1) / time.Millisecond)
}

func freeClient(c unsafe.Pointer) { C.criteo_client_free((*C.criteo_client)(c)) }

// field is one string argument of a C call, named as the library names
// it; an optional "" goes to C as NULL.
type field struct {
	name, value string
	optional    bool
}

// cFields holds the C strings of a call's arguments until free.
type cFields struct {
	strs cStrings
	ptrs []*C.char
}

// newCFields makes the C strings of fields, in their order. A Go string
// holding a NUL byte, which C would cut short, is refused here, named.
func newCFields(fields ...field) (*cFields, error) {
	c := &cFields{}
	for _, f := range fields {
		if err := checkNoNUL(f.name, f.value); err != nil {
			c.free()
			return nil, err
		}
		c.ptrs = append(c.ptrs, c.strs.add(f.value, f.optional))
	}
	return c, nil
}

func (c *cFields) free() { c.strs.free() }

// newPKCEFields makes the C strings of an exchange with a verifier.
func newPKCEFields(req PKCERequest) (*cFields, error) {
	return newCFields(field{"client_id", req.ClientID, false}, field{"client_secret", req.ClientSecret, true},
		field{"redirect_uri", req.RedirectURI, false}, field{"code", req.Code, false},
		field{"code_verifier", req.CodeVerifier, false})
}

// getTokenPKCE blocks for the whole request: callers run it on a
// goroutine of its own (see call).
func getTokenPKCE(client unsafe.Pointer, f *cFields) (*Token, error) {
	p := f.ptrs
	var token *C.criteo_token
	var cerr *C.criteo_error
	if C.criteo_get_token_pkce((*C.criteo_client)(client), p[0], p[1], p[2], p[3], p[4], &token, &cerr) != C.CRITEO_OK {
		return nil, takeError(cerr)
	}
	return keepToken(token), nil
}

// newConsent draws a consent's state and verifier and makes its link.
func newConsent(client unsafe.Pointer, clientID, redirectURI string) (unsafe.Pointer, error) {
	f, err := newCFields(field{"client_id", clientID, false}, field{"redirect_uri", redirectURI, false})
	if err != nil {
		return nil, err
	}
	defer f.free()
	var consent *C.criteo_consent
	var cerr *C.criteo_error
	if C.criteo_consent_new((*C.criteo_client)(client), f.ptrs[0], f.ptrs[1], &consent, &cerr) != C.CRITEO_OK {
		return nil, takeError(cerr)
	}
	return unsafe.Pointer(consent), nil
}

// The consent's link, state and verifier, copied into Go.
func consentURL(consent unsafe.Pointer) string {
	return C.GoString(C.criteo_consent_url((*C.criteo_consent)(consent)))
}

func consentState(consent unsafe.Pointer) string {
	return C.GoString(C.criteo_consent_state((*C.criteo_consent)(consent)))
}

func consentCodeVerifier(consent unsafe.Pointer) string {
	return C.GoString(C.criteo_consent_code_verifier((*C.criteo_consent)(consent)))
}

// finishConsent checks the redirect URL (f: the client secret or NULL,
// the redirect URL) and exchanges its code: it blocks for the whole
// request, so callers run it on a goroutine of its own (see call).
func finishConsent(client, consent unsafe.Pointer, f *cFields) (*Token, error) {
	var token *C.criteo_token
	var cerr *C.criteo_error
	if C.criteo_consent_finish((*C.criteo_client)(client), (*C.criteo_consent)(consent), f.ptrs[0], f.ptrs[1],
		&token, &cerr) != C.CRITEO_OK {
		return nil, takeError(cerr)
	}
	return keepToken(token), nil
}

func freeConsent(consent unsafe.Pointer) { C.criteo_consent_free((*C.criteo_consent)(consent)) }

// newRequestFields makes the six C strings of a token request, in the
// order of criteo_get_token.
func newRequestFields(req TokenRequest) (*cFields, error) {
	return newCFields(field{"grant_type", req.GrantType, false}, field{"client_id", req.ClientID, false},
		field{"client_secret", req.ClientSecret, false}, field{"redirect_uri", req.RedirectURI, true},
		field{"code", req.Code, true}, field{"refresh_token", req.RefreshToken, true})
}

// getToken blocks for the whole request: callers run it on a goroutine
// of its own (see call).
func getToken(client unsafe.Pointer, r *cFields) (*Token, error) {
	f := r.ptrs
	var token *C.criteo_token
	var cerr *C.criteo_error
	if C.criteo_get_token((*C.criteo_client)(client), f[0], f[1], f[2], f[3], f[4], f[5], &token, &cerr) != C.CRITEO_OK {
		return nil, takeError(cerr)
	}
	return keepToken(token), nil
}

// newSource makes a C source whose refresh callback reaches hook.
func newSource(client unsafe.Pointer, req TokenRequest, hook cgo.Handle) (unsafe.Pointer, error) {
	r, err := newRequestFields(req)
	if err != nil {
		return nil, err
	}
	defer r.free()
	f := r.ptrs
	var source *C.criteo_token_source
	var cerr *C.criteo_error
	if C.criteo_token_source_new((*C.criteo_client)(client), f[0], f[1], f[2], f[3], f[4], f[5], &source, &cerr) != C.CRITEO_OK {
		return nil, takeError(cerr)
	}
	C.register_refresh(source, C.uintptr_t(hook))
	return unsafe.Pointer(source), nil
}

// newNamedSource makes a C source for the lineage name names, started
// from start (nil: found in the store), whose refresh callback reaches
// hook.
func newNamedSource(client unsafe.Pointer, clientID, clientSecret, name string, start *nativeToken,
	hook cgo.Handle) (unsafe.Pointer, error) {
	f, err := newCFields(field{"client_id", clientID, false}, field{"client_secret", clientSecret, false},
		field{"name", name, false})
	if err != nil {
		return nil, err
	}
	defer f.free()
	var token *C.criteo_token
	if start != nil {
		// The library copies the token; one thread reads it at a time.
		start.mu.Lock()
		defer start.mu.Unlock()
		token = (*C.criteo_token)(start.ptr)
	}
	var source *C.criteo_token_source
	var cerr *C.criteo_error
	status := C.criteo_token_source_new_named((*C.criteo_client)(client), f.ptrs[0], f.ptrs[1], f.ptrs[2], token,
		&source, &cerr)
	runtime.KeepAlive(start)
	if status != C.CRITEO_OK {
		return nil, takeError(cerr)
	}
	C.register_refresh(source, C.uintptr_t(hook))
	return unsafe.Pointer(source), nil
}

// trySourceToken never blocks: ready is false when a fetch is due or
// under way (then sourceToken fetches or waits for it).
func trySourceToken(source unsafe.Pointer) (token *Token, err error, ready bool) {
	var t *C.criteo_token
	var cerr *C.criteo_error
	if C.criteo_token_source_try_get((*C.criteo_token_source)(source), &t, &cerr) != C.CRITEO_OK {
		return nil, takeError(cerr), true
	}
	if t == nil {
		return nil, nil, false
	}
	return takeToken(t), nil, true
}

// sourceToken may block for a whole fetch: callers run it on a goroutine
// of its own (see call).
func sourceToken(source unsafe.Pointer) (*Token, error) {
	var token *C.criteo_token
	var cerr *C.criteo_error
	if C.criteo_token_source_get((*C.criteo_token_source)(source), &token, &cerr) != C.CRITEO_OK {
		return nil, takeError(cerr)
	}
	return takeToken(token), nil
}

func setRefreshMargin(source unsafe.Pointer, d time.Duration) error {
	if d < 0 || d > 24*time.Hour {
		return invalidArgument("refresh margin must be between 0 and 24 h")
	}
	// Rounded up to whole seconds: a margin is never shorter than asked.
	seconds := (d + time.Second - 1) / time.Second
	if C.criteo_token_source_set_refresh_margin((*C.criteo_token_source)(source), C.uint32_t(seconds)) != C.CRITEO_OK {
		return invalidArgument("refresh margin refused")
	}
	return nil
}

// setStore gives a new source the store place names (nil: the default
// store). An empty place goes to C as it is, which refuses it.
func setStore(source unsafe.Pointer, place *string) error {
	var strs cStrings
	defer strs.free()
	var cPlace *C.char
	if place != nil {
		cPlace = strs.add(*place, false)
	}
	var cerr *C.criteo_error
	if C.criteo_token_source_set_store((*C.criteo_token_source)(source), cPlace, &cerr) != C.CRITEO_OK {
		return takeError(cerr)
	}
	return nil
}

// storeError is the store's last failure, or nil.
func storeError(source unsafe.Pointer) error {
	var cerr *C.criteo_error
	if C.criteo_token_source_store_error((*C.criteo_token_source)(source), &cerr) != C.CRITEO_OK {
		return takeError(cerr)
	}
	return nil
}

// rejectSource drops the cached token if it is still accessToken. A Go
// string holding a NUL byte is no token the library has (its tokens are C
// strings), and C would see it cut short: it rejects nothing.
func rejectSource(source unsafe.Pointer, accessToken string) {
	if strings.IndexByte(accessToken, 0) >= 0 {
		return
	}
	var strs cStrings
	defer strs.free()
	C.criteo_token_source_reject((*C.criteo_token_source)(source), strs.add(accessToken, false))
}

func invalidateSource(source unsafe.Pointer) {
	C.criteo_token_source_invalidate((*C.criteo_token_source)(source))
}

func freeSource(source unsafe.Pointer) { C.criteo_token_source_free((*C.criteo_token_source)(source)) }

// Version is the version of the loaded library, e.g. "0.1.0".
func Version() string { return C.GoString(C.criteo_version()) }
