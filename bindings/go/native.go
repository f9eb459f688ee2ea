package criteo

// The cgo glue: every call into libcriteo_oauth and every copy out of it
// lives in this file. Strings coming back are copied into Go memory at
// once; objects the library made are freed only by its own free functions.

/*
#cgo CFLAGS: -I${SRCDIR}/../../include
#cgo LDFLAGS: -lcriteo_oauth
#include <stdlib.h>
#include "criteo_oauth.h"
*/
import "C"

import (
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

func (cs cStrings) free() {
	for _, p := range cs {
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
func buildClient(o *options) (*C.criteo_client, error) {
	proxy := ""
	if o.proxy != nil {
		proxy = *o.proxy
	}
	for _, f := range [][2]string{{"base_url", o.host}, {"pem_path", o.caFile}, {"proxy_url", proxy}, {"user_agent", o.userAgent}} {
		if err := checkNoNUL(f[0], f[1]); err != nil {
			return nil, err
		}
	}
	builder := C.criteo_client_builder_new()
	var strs cStrings
	defer strs.free()
	if o.host != "" {
		C.criteo_client_builder_set_host(builder, strs.add(o.host, false))
	}
	C.criteo_client_builder_set_timeouts(builder, milliseconds(o.connectTimeout), milliseconds(o.totalTimeout))
	if o.maxRetries >= 0 {
		C.criteo_client_builder_set_max_retries(builder, C.uint32_t(o.maxRetries))
	}
	if o.caFile != "" {
		C.criteo_client_builder_set_ca_file(builder, strs.add(o.caFile, false))
	}
	if o.proxy != nil {
		C.criteo_client_builder_set_proxy(builder, strs.add(*o.proxy, false))
	}
	if o.userAgent != "" {
		C.criteo_client_builder_set_user_agent(builder, strs.add(o.userAgent, false))
	}
	var client *C.criteo_client
	var cerr *C.criteo_error
	if C.criteo_client_builder_build(builder, &client, &cerr) != C.CRITEO_OK {
		return nil, takeError(cerr)
	}
	return client, nil
}

// checkNoNUL refuses a Go string C would see cut short at a NUL byte.
func checkNoNUL(name, value string) error {
	if strings.IndexByte(value, 0) >= 0 {
		return &Error{Status: StatusInvalidArgument, Message: name + " contains a NUL byte", RetryAfter: -1}
	}
	return nil
}

func milliseconds(d time.Duration) C.uint32_t {
	ms := d.Milliseconds()
	if ms > int64(^uint32(0)) {
		ms = int64(^uint32(0))
	}
	return C.uint32_t(ms)
}

func freeClient(c *C.criteo_client) { C.criteo_client_free(c) }

// requestStrings makes the six C strings of a token request. A Go string
// may hold a NUL byte, which C would silently cut the string at: such a
// field is refused here, named as the library names it.
func requestStrings(req TokenRequest, strs *cStrings) ([6]*C.char, error) {
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
	var c [6]*C.char
	for i, f := range fields {
		if err := checkNoNUL(f.name, f.value); err != nil {
			return c, err
		}
		c[i] = strs.add(f.value, f.optional)
	}
	return c, nil
}

func getToken(client *C.criteo_client, req TokenRequest) (*Token, error) {
	var strs cStrings
	defer strs.free()
	f, err := requestStrings(req, &strs)
	if err != nil {
		return nil, err
	}
	var token *C.criteo_token
	var cerr *C.criteo_error
	if C.criteo_get_token(client, f[0], f[1], f[2], f[3], f[4], f[5], &token, &cerr) != C.CRITEO_OK {
		return nil, takeError(cerr)
	}
	return takeToken(token), nil
}

func newSource(client *C.criteo_client, req TokenRequest) (*C.criteo_token_source, error) {
	var strs cStrings
	defer strs.free()
	f, err := requestStrings(req, &strs)
	if err != nil {
		return nil, err
	}
	var source *C.criteo_token_source
	var cerr *C.criteo_error
	if C.criteo_token_source_new(client, f[0], f[1], f[2], f[3], f[4], f[5], &source, &cerr) != C.CRITEO_OK {
		return nil, takeError(cerr)
	}
	return source, nil
}

func sourceToken(source *C.criteo_token_source) (*Token, error) {
	var token *C.criteo_token
	var cerr *C.criteo_error
	if C.criteo_token_source_get(source, &token, &cerr) != C.CRITEO_OK {
		return nil, takeError(cerr)
	}
	return takeToken(token), nil
}

func setRefreshMargin(source *C.criteo_token_source, d time.Duration) error {
	seconds := d / time.Second
	if seconds < 0 || seconds > 86400 {
		return &Error{Status: StatusInvalidArgument, Message: "refresh margin must be between 0 and 24 h", RetryAfter: -1}
	}
	if C.criteo_token_source_set_refresh_margin(source, C.uint32_t(seconds)) != C.CRITEO_OK {
		return &Error{Status: StatusInvalidArgument, Message: "refresh margin refused", RetryAfter: -1}
	}
	return nil
}

func invalidateSource(source *C.criteo_token_source) { C.criteo_token_source_invalidate(source) }
func freeSource(source *C.criteo_token_source)       { C.criteo_token_source_free(source) }

// Version is the version of the loaded library, e.g. "0.1.0".
func Version() string { return C.GoString(C.criteo_version()) }
