package criteo

import (
	"context"
	"runtime"
	"unsafe"
)

// Consent is the user's consent step of the authorization code flow with
// PKCE (RFC 7636): the link that sends the user to Criteo's consent page,
// and the state and verifier its answer is checked and exchanged with.
// A Consent is safe for concurrent use; it is finished once (its code is
// single-use).
//
//	consent, err := criteo.NewConsent(client, clientID, "https://app.example/callback")
//	// send the user's browser to consent.URL(); it comes back to the
//	// callback, whose full URL Finish takes:
//	token, err := consent.Finish(clientSecret, callbackURL)
//
// The state and verifier are secrets: an app that finishes the consent in
// another process keeps them in its own session store, never in a URL or
// a log, and exchanges the code with Client.GetTokenPKCE.
type Consent struct {
	h      *handle
	client *Client
}

// NewConsent starts a consent for clientID: it draws a state and a PKCE
// verifier from the system's random source and makes the link to the
// client's consent page (WithConsentURL; by default
// https://consent.criteo.com/request), with response_type=code,
// clientID, redirectURI, the state, the verifier's S256 code_challenge
// and code_challenge_method=S256. redirectURI is where Criteo sends the
// user back, as registered for the app: an absolute URI (https://..., a
// loopback http://127.0.0.1:PORT/..., or an app's own scheme), with no
// fragment. client nil means the default client; Finish uses the same
// client, which must not be closed before. Nothing is sent. Errors are
// *Error (ErrInvalidArgument for a refused argument, named).
func NewConsent(client *Client, clientID, redirectURI string) (*Consent, error) {
	clientPtr, err := client.acquire()
	if err != nil {
		return nil, err
	}
	ptr, err := newConsent(clientPtr, clientID, redirectURI)
	client.release()
	if err != nil {
		return nil, err
	}
	c := &Consent{h: newHandle("consent", ptr, freeConsent), client: client}
	runtime.SetFinalizer(c, (*Consent).Close)
	return c, nil
}

// URL is the link to send the user to (open it in a browser). It holds
// the state, not the verifier. "" once the consent is closed.
func (c *Consent) URL() string { return c.read(consentURL) }

// State is the consent's state (43 characters of base64url), for an app
// that keeps it in its session to check the answer itself. A secret. ""
// once the consent is closed.
func (c *Consent) State() string { return c.read(consentState) }

// CodeVerifier is the consent's PKCE verifier (43 characters of
// base64url), for an app that exchanges the code elsewhere with
// Client.GetTokenPKCE. A secret: whoever holds it and the code can get
// the tokens. "" once the consent is closed.
func (c *Consent) CodeVerifier() string { return c.read(consentCodeVerifier) }

// Finish finishes the consent: FinishContext without a context.
func (c *Consent) Finish(clientSecret, redirectURL string) (*Token, error) {
	return c.FinishContext(context.Background(), clientSecret, redirectURL)
}

// FinishContext finishes the consent with redirectURL, the URL the user's
// browser came back to (as the browser shows it; a fragment is ignored),
// then exchanges its code for a token through the consent's client.
// clientSecret is the app's secret, or "" for a public client (one that
// cannot keep a secret), which sends none.
//
// Refused with an error matching ErrInvalidArgument, before anything is
// sent: a URL that goes elsewhere than the consent's redirect URI, any
// parameter given twice, a missing state or one that is not the
// consent's, an error answer (Code gives the OAuth error, such as
// "access_denied" when the user refused, and Description its
// description), a missing code, or a consent finished already. No error
// holds the code, the state or the verifier.
//
// Then the code and the verifier are sent once, never retried (a code is
// single-use), and the consent is finished whatever the answer: a code
// that was used or expired, or a verifier the server does not match, is
// an error matching ErrBadRequest with Code "invalid_grant". When ctx is
// done first, FinishContext returns at once with an error for which
// errors.Is(err, ctx.Err()) holds; the exchange it abandons still ends,
// within the client's time limits, and its token is lost with the code.
// A closed consent or client gives an error matching ErrClosed.
//
// The token's RefreshToken starts a refresh_token TokenSource; or, given
// to NewNamedTokenSource as it is, a named lineage in a store.
func (c *Consent) FinishContext(ctx context.Context, clientSecret, redirectURL string) (*Token, error) {
	if ctx.Err() != nil {
		return nil, contextError(ctx)
	}
	fields, err := newCFields(field{"client_secret", clientSecret, true}, field{"redirect_url", redirectURL, false})
	if err != nil {
		return nil, err
	}
	consentPtr, err := c.h.acquire()
	if err != nil {
		fields.free()
		return nil, err
	}
	clientPtr, err := c.client.acquire()
	if err != nil {
		c.h.release()
		fields.free()
		return nil, err
	}
	fetch := func() (*Token, error) { return finishConsent(clientPtr, consentPtr, fields) }
	finished := func() {
		fields.free()
		c.client.release()
		c.h.release()
	}
	return startCall(fetch, finished).wait(ctx)
}

// Close frees the consent, wiping its state and verifier, once the calls
// under way have finished; it returns at once, and may be called more
// than once. Later calls of Finish fail with an error matching ErrClosed,
// and URL, State and CodeVerifier return "".
func (c *Consent) Close() {
	if c != nil {
		c.h.close()
	}
}

// read copies one of the consent's strings into Go; "" once closed.
func (c *Consent) read(get func(unsafe.Pointer) string) string {
	ptr, err := c.h.acquire()
	if err != nil {
		return ""
	}
	defer c.h.release()
	return get(ptr)
}
