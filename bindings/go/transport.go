package criteo

import (
	"errors"
	"io"
	"net/http"
)

// Transport is an http.RoundTripper that sends each request with an
// Authorization header from Source, as golang.org/x/oauth2's Transport
// does. When the API answers 401, it rejects the token it sent
// (TokenSource.Reject: of many requests refused with one token, only the
// first causes a fetch, and a token already replaced is kept) and sends
// the request once more with the source's token, if the body can be sent
// again (no body, or Request.GetBody set, as http.NewRequest does for
// in-memory bodies).
//
//	httpClient := &http.Client{Transport: &criteo.Transport{Source: source}}
type Transport struct {
	// Source gives the tokens; it must not be nil.
	Source *TokenSource
	// Base sends the requests; nil means http.DefaultTransport.
	Base http.RoundTripper
}

// RoundTrip sends req (which it leaves unchanged) with a token, waiting
// for one no longer than req's context allows.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.Source == nil {
		closeBody(req)
		return nil, errors.New("criteo: Transport.Source is nil")
	}
	token, err := t.Source.TokenContext(req.Context())
	if err != nil {
		closeBody(req)
		return nil, err
	}
	response, err := t.base().RoundTrip(authorized(req, token, req.Body))
	if err != nil || response.StatusCode != http.StatusUnauthorized || !replayable(req) {
		return response, err
	}
	t.Source.Reject(token.AccessToken)
	if token, err = t.Source.TokenContext(req.Context()); err != nil {
		discard(response)
		return nil, err
	}
	body := req.Body
	if req.GetBody != nil {
		if body, err = req.GetBody(); err != nil {
			discard(response)
			return nil, err
		}
	}
	discard(response)
	return t.base().RoundTrip(authorized(req, token, body))
}

func (t *Transport) base() http.RoundTripper {
	if t.Base != nil {
		return t.Base
	}
	return http.DefaultTransport
}

// authorized is a copy of req with the token's Authorization header and
// this body.
func authorized(req *http.Request, token *Token, body io.ReadCloser) *http.Request {
	out := req.Clone(req.Context())
	out.Header.Set("Authorization", token.Authorization())
	out.Body = body
	return out
}

// replayable reports whether req's body can be sent a second time.
func replayable(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// discard reads a little of a response we drop, so its connection can be
// reused, and closes it.
func discard(response *http.Response) {
	io.CopyN(io.Discard, response.Body, 4096)
	response.Body.Close()
}
