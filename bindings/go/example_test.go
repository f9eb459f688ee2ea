package criteo_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"

	criteo "criteo-oauth/bindings/go"
)

// A client asks for a token whenever called; each error says what failed.
func ExampleClient_GetTokenContext() {
	client, err := criteo.NewClient(criteo.WithTimeouts(5*time.Second, 20*time.Second))
	if err != nil {
		log.Fatal(err) // a refused option, named in the message
	}
	defer client.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	token, err := client.GetTokenContext(ctx, criteo.TokenRequest{
		GrantType:    "client_credentials",
		ClientID:     os.Getenv("CRITEO_CLIENT_ID"),
		ClientSecret: os.Getenv("CRITEO_CLIENT_SECRET"),
	})
	switch {
	case errors.Is(err, criteo.ErrUnauthorized):
		log.Fatal("check the client id and secret: ", err)
	case errors.Is(err, context.DeadlineExceeded):
		log.Fatal("no token in time: ", err)
	case err != nil:
		log.Fatal(err)
	}
	fmt.Println("token valid until", token.ExpiresAt)
}

// A token source caches the token for every goroutine and refreshes it
// before it expires; the callback keeps each rotated refresh token.
func ExampleTokenSource() {
	source, err := criteo.NewTokenSource(nil, criteo.TokenRequest{
		GrantType:    "refresh_token",
		ClientID:     os.Getenv("CRITEO_CLIENT_ID"),
		ClientSecret: os.Getenv("CRITEO_CLIENT_SECRET"),
		RefreshToken: os.Getenv("CRITEO_REFRESH_TOKEN"),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer source.Close()
	source.SetRefreshCallback(func(token *criteo.Token) {
		// Persist token.RefreshToken: the previous one may no longer work.
	})

	token, err := source.TokenContext(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("Authorization:", token.Authorization())
}

// Transport puts the token on every request of an http.Client, and asks
// for a new one when the API answers 401.
func ExampleTransport() {
	source, err := criteo.NewTokenSource(nil, criteo.TokenRequest{
		GrantType:    "client_credentials",
		ClientID:     os.Getenv("CRITEO_CLIENT_ID"),
		ClientSecret: os.Getenv("CRITEO_CLIENT_SECRET"),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer source.Close()
	httpClient := &http.Client{Transport: &criteo.Transport{Source: source}}

	resp, err := httpClient.Get("https://api.criteo.com/2024-10/advertisers/me")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	fmt.Println(resp.Status)
}

// With a store, every program of this user that asks for the same
// credentials shares one token and one fetch at a time: Go, Ruby and C
// programs, and the criteo-token command. After a 401, Reject drops the
// token the API refused, and only that one.
func ExampleWithDefaultStore() {
	source, err := criteo.NewTokenSource(nil, criteo.TokenRequest{
		GrantType:    "client_credentials",
		ClientID:     os.Getenv("CRITEO_CLIENT_ID"),
		ClientSecret: os.Getenv("CRITEO_CLIENT_SECRET"),
	}, criteo.WithDefaultStore())
	if err != nil {
		log.Fatal(err) // the store directory was refused: the message says why
	}
	defer source.Close()

	token, err := source.Token()
	if err != nil {
		log.Fatal(err)
	}
	req, _ := http.NewRequest("GET", "https://api.criteo.com/2024-10/advertisers/me", nil)
	req.Header.Set("Authorization", token.Authorization())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized {
		source.Reject(token.AccessToken) // the next Token brings a new one
	}
	if err := source.StoreError(); err != nil {
		log.Print("the token is not shared: ", err) // a full disk, say
	}
}

// A web app's consent step: one request sends the user's browser to
// Criteo's consent page, another takes the URL the browser came back to.
// The token starts a lineage named for the account in the store, which
// any later process finds again by its name alone.
func ExampleConsent() {
	client, err := criteo.NewClient()
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	consent, err := criteo.NewConsent(client, os.Getenv("CRITEO_CLIENT_ID"), "https://app.example/criteo/callback")
	if err != nil {
		log.Fatal(err)
	}
	defer consent.Close()
	fmt.Println("open", consent.URL())

	// The callback's handler, with the URL the browser came back to (for
	// a handler: "https://app.example" + r.URL.RequestURI()).
	callbackURL := "https://app.example/criteo/callback?code=...&state=..."
	token, err := consent.Finish(os.Getenv("CRITEO_CLIENT_SECRET"), callbackURL)
	switch {
	case errors.Is(err, criteo.ErrInvalidArgument):
		log.Fatal("not this consent's answer, or the user refused: ", err) // err's Code: "access_denied"
	case err != nil:
		log.Fatal(err)
	}

	source, err := criteo.NewNamedTokenSource(client, os.Getenv("CRITEO_CLIENT_ID"), os.Getenv("CRITEO_CLIENT_SECRET"),
		"customer-42", token, criteo.WithDefaultStore())
	if err != nil {
		log.Fatal(err)
	}
	defer source.Close()
	// Later, in any process: NewNamedTokenSource(client, id, secret,
	// "customer-42", nil, criteo.WithDefaultStore()).
	if _, err := source.Token(); err != nil {
		log.Fatal(err)
	}
}
