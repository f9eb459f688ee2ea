package criteo

import "time"

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

// Token is an access token, copied into Go memory.
type Token struct {
	AccessToken  string
	TokenType    string // "Bearer" (or "bearer", as the server sent it)
	RefreshToken string // "" when the answer had none
	// ExpiresIn is the lifetime the server gave, or -1 when it gave none.
	ExpiresIn time.Duration
	// ExpiresAt is when the token expires; zero when unknown.
	ExpiresAt time.Time
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
