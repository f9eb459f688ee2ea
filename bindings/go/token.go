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

// Authorization is the value for an Authorization header.
func (t *Token) Authorization() string {
	return "Bearer " + t.AccessToken
}
