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
	}{{"base_url", o.host}, {"pem_path", o.caFile}, {"proxy_url", o.proxy}, {"user_agent", o.userAgent}}
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

// requestFields holds the six C strings of a token request until free.
type requestFields struct {
	strs   cStrings
	fields [6]*C.char
}

// newRequestFields makes the C strings of a token request. A Go string
// may hold a NUL byte, which C would silently cut the string at: such a
// field is refused here, named as the library names it.
func newRequestFields(req TokenRequest) (*requestFields, error) {
	fields := [6]struct {
		name, value string
		optional    bool
	}{
		{"grant_type", req.GrantType, false},
		{"client_id", req.ClientID, false},
		{"client_secret", req.ClientSecret, false},
		{"redirect_uri", req.RedirectURI, true},
		{"code", req.Code, true},
		{"refresh_token", req.RefreshToken, true},
	}
	r := &requestFields{}
	for i, f := range fields {
		if err := checkNoNUL(f.name, f.value); err != nil {
			r.free()
			return nil, err
		}
		r.fields[i] = r.strs.add(f.value, f.optional)
	}
	return r, nil
}

func (r *requestFields) free() { r.strs.free() }

// getToken blocks for the whole request: callers run it on a goroutine
// of its own (see call).
func getToken(client unsafe.Pointer, r *requestFields) (*Token, error) {
	f := r.fields
	var token *C.criteo_token
	var cerr *C.criteo_error
	if C.criteo_get_token((*C.criteo_client)(client), f[0], f[1], f[2], f[3], f[4], f[5], &token, &cerr) != C.CRITEO_OK {
		return nil, takeError(cerr)
	}
	return takeToken(token), nil
}

// newSource makes a C source whose refresh callback reaches hook.
func newSource(client unsafe.Pointer, req TokenRequest, hook cgo.Handle) (unsafe.Pointer, error) {
	r, err := newRequestFields(req)
	if err != nil {
		return nil, err
	}
	defer r.free()
	f := r.fields
	var source *C.criteo_token_source
	var cerr *C.criteo_error
	if C.criteo_token_source_new((*C.criteo_client)(client), f[0], f[1], f[2], f[3], f[4], f[5], &source, &cerr) != C.CRITEO_OK {
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
