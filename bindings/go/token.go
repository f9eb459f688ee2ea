package criteo

import (
	"sync"
	"time"
	"unsafe"
)

// TokenRequest holds the arguments of OAuthApi.get_token. GrantType,
// ClientID and ClientSecret are required; the others are sent only when
// not empty.
type TokenRequest struct {
	GrantType    string // "client_credentials", "authorization_code" or "refresh_token"
	ClientID     string
	ClientSecret string
	RedirectURI  string
	Code         string
	RefreshToken string
}

// PKCERequest holds the arguments of an authorization code exchange with
// its PKCE verifier (RFC 7636), for a consent made elsewhere (NewConsent
// in another request of a web app, or on another host) whose CodeVerifier
// was kept. ClientID, RedirectURI (the consent's, exactly), Code and
// CodeVerifier are required; ClientSecret "" means a public client (one
// that cannot keep a secret), which sends none.
type PKCERequest struct {
	ClientID     string
	ClientSecret string // "" for a public client
	RedirectURI  string
	Code         string
	CodeVerifier string // 43 to 128 characters of A-Z a-z 0-9 - . _ ~
}

// Token is an access token, copied into Go memory.
type Token struct {
	AccessToken  string
	TokenType    string // "Bearer" (or "bearer", as the server sent it)
	RefreshToken string // "" when the answer had none
	// ExpiresIn is the lifetime the server gave, or -1 when it gave none.
	ExpiresIn time.Duration
	// ExpiresAt is when the token expires; zero when unknown.
	ExpiresAt time.Time

	// native is the library's own token, kept for NewNamedTokenSource
	// when a Client call (GetToken, GetTokenPKCE, Consent.Finish) gave
	// one with a refresh token; nil otherwise. Copies share it.
	native *nativeToken
}

// nativeToken is a criteo_token kept alive by the Go tokens that share
// it, freed (and its secrets wiped) when the last one is collected. The
// library reads a token from one thread at a time: mu serializes them.
type nativeToken struct {
	mu  sync.Mutex
	ptr unsafe.Pointer
}

// expiryDelta is how long before ExpiresAt a token stops being Valid, as
// in golang.org/x/oauth2: long enough for a request to reach the API.
const expiryDelta = 10 * time.Second

// Valid reports whether t is a token that can still be used: it has an
// access token, and its expiry is unknown or more than 10 s away.
func (t *Token) Valid() bool {
	return t != nil && t.AccessToken != "" && (t.ExpiresAt.IsZero() || time.Until(t.ExpiresAt) > expiryDelta)
}

// Authorization is the value for an Authorization header.
func (t *Token) Authorization() string {
	return "Bearer " + t.AccessToken
}
