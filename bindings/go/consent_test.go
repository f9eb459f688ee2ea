package criteo_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	criteo "criteo-oauth/bindings/go"
)

// The consent flow against the test server, which plays Criteo's consent
// page: GET /consent approves (302 to the redirect URI with a code and
// the state), GET /consent/deny refuses (302 with error=access_denied).
// These tests play the app and the user's browser.

const redirectURI = "http://127.0.0.1:9/callback"

// consentClient is a client whose consent page is the test server's
// path: "/consent" approves, "/consent/deny" refuses.
func consentClient(t *testing.T, path string) *criteo.Client {
	t.Helper()
	return newClient(t, serverURL, criteo.WithConsentURL(serverURL+path))
}

func newConsent(t *testing.T, client *criteo.Client, clientID string) *criteo.Consent {
	t.Helper()
	consent, err := criteo.NewConsent(client, clientID, redirectURI)
	if err != nil {
		t.Fatalf("NewConsent: %v", err)
	}
	t.Cleanup(consent.Close)
	return consent
}

// browse is the user's browser: it GETs link, follows no redirect, and
// returns where the consent page sends it back (the Location header).
func browse(t *testing.T, link string) string {
	t.Helper()
	browser := &http.Client{
		Transport:     &http.Transport{}, // no proxy
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := browser.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	location := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || location == "" {
		t.Fatalf("GET %s: %s, Location %q", link, resp.Status, location)
	}
	return location
}

// withParameter is back with its parameter name set to value.
func withParameter(t *testing.T, back, name, value string) string {
	t.Helper()
	u, err := url.Parse(back)
	if err != nil {
		t.Fatal(err)
	}
	query := u.Query()
	query.Set(name, value)
	u.RawQuery = query.Encode()
	return u.String()
}

func parameter(t *testing.T, back, name string) string {
	t.Helper()
	u, err := url.Parse(back)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get(name)
}

func TestConsentLink(t *testing.T) {
	consent := newConsent(t, consentClient(t, "/consent"), "demo-client")
	state, verifier := consent.State(), consent.CodeVerifier()
	if len(state) != 43 || len(verifier) != 43 || state == verifier {
		t.Fatalf("state %d characters, verifier %d", len(state), len(verifier))
	}
	want := serverURL + "/consent?response_type=code&client_id=demo-client&redirect_uri=" +
		url.QueryEscape(redirectURI) + "&state=" + state + "&code_challenge="
	link := consent.URL()
	if !strings.HasPrefix(link, want) || !strings.HasSuffix(link, "&code_challenge_method=S256") {
		t.Errorf("link %q, want it to start with %q", link, want)
	}
	if strings.Contains(link, verifier) {
		t.Errorf("the link holds the verifier")
	}
	other := newConsent(t, consentClient(t, "/consent"), "demo-client")
	if other.State() == state || other.CodeVerifier() == verifier {
		t.Errorf("two consents drew the same state or verifier")
	}
}

func TestConsentFinishConfidential(t *testing.T) {
	client := consentClient(t, "/consent")
	consent := newConsent(t, client, "demo-client")
	back := browse(t, consent.URL())
	if parameter(t, back, "state") != consent.State() || parameter(t, back, "code") == "" {
		t.Fatalf("the consent page sent the browser to %q", back)
	}
	before := fetches(t, "demo-client")
	token, err := consent.Finish("demo-secret", back)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(token.AccessToken, "eyJ") || !strings.HasPrefix(token.RefreshToken, "rt-consent-") || !token.Valid() {
		t.Errorf("unexpected token %+v", token)
	}
	if n := fetches(t, "demo-client") - before; n != 1 {
		t.Errorf("%d requests, want 1", n)
	}

	// Finished: its code is single-use, and nothing more is sent.
	_, err = consent.Finish("demo-secret", back)
	if !errors.Is(err, criteo.ErrInvalidArgument) || !strings.Contains(err.Error(), "finished already") {
		t.Errorf("a consent finished twice: %v", err)
	}
	if n := fetches(t, "demo-client") - before; n != 1 {
		t.Errorf("%d requests, want 1", n)
	}

	// The refresh token starts a refresh_token source.
	source, err := criteo.NewTokenSource(client, criteo.TokenRequest{GrantType: "refresh_token",
		ClientID: "demo-client", ClientSecret: "demo-secret", RefreshToken: token.RefreshToken})
	if err != nil {
		t.Fatal(err)
	}
	defer source.Close()
	renewed, err := source.Token()
	if err != nil {
		t.Fatal(err)
	}
	if renewed.AccessToken == token.AccessToken || renewed.RefreshToken == token.RefreshToken {
		t.Errorf("the refresh_token source gave the same token")
	}

	consent.Close()
	consent.Close()
	if _, err := consent.Finish("demo-secret", back); !errors.Is(err, criteo.ErrClosed) {
		t.Errorf("a closed consent: %v", err)
	}
	if consent.URL() != "" || consent.State() != "" || consent.CodeVerifier() != "" {
		t.Errorf("a closed consent still gives its strings")
	}
}

func TestConsentFinishPublicClient(t *testing.T) {
	clientID := "go-public-" + t.Name()
	consent := newConsent(t, consentClient(t, "/consent"), clientID)
	before := fetches(t, clientID)
	token, err := consent.Finish("", browse(t, consent.URL()))
	if err != nil {
		t.Fatal(err)
	}
	if token.AccessToken == "" || token.RefreshToken == "" {
		t.Errorf("unexpected token %+v", token)
	}
	if n := fetches(t, clientID) - before; n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

// A context done before FinishContext sends nothing: the code is kept.
func TestConsentFinishContextDoneFirst(t *testing.T) {
	clientID := "go-context-" + t.Name()
	consent := newConsent(t, consentClient(t, "/consent"), clientID)
	back := browse(t, consent.URL())
	before := fetches(t, clientID)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := consent.FinishContext(ctx, "", back); !errors.Is(err, context.Canceled) {
		t.Errorf("want context.Canceled, got %v", err)
	}
	if n := fetches(t, clientID) - before; n != 0 {
		t.Errorf("%d requests, want 0", n)
	}
	if _, err := consent.FinishContext(context.Background(), "", back); err != nil {
		t.Errorf("then with a live context: %v", err)
	}
}

func TestConsentDenied(t *testing.T) {
	clientID := "go-denied-" + t.Name()
	consent := newConsent(t, consentClient(t, "/consent/deny"), clientID)
	back := browse(t, consent.URL())
	if parameter(t, back, "error") != "access_denied" {
		t.Fatalf("the refusing consent page sent the browser to %q", back)
	}
	before := fetches(t, clientID)
	token, err := consent.Finish("", back)
	if token != nil || !errors.Is(err, criteo.ErrInvalidArgument) {
		t.Fatalf("want ErrInvalidArgument, got %v, %v", token, err)
	}
	if e := asError(t, err); e.Code != "access_denied" || e.Description == "" || e.HTTPStatus != 0 {
		t.Errorf("unexpected error fields %+v", e)
	}
	if n := fetches(t, clientID) - before; n != 0 {
		t.Errorf("%d requests for a denied consent, want 0", n)
	}
}

func TestConsentRefusesAnotherState(t *testing.T) {
	clientID := "go-state-" + t.Name()
	consent := newConsent(t, consentClient(t, "/consent"), clientID)
	back := browse(t, consent.URL())
	before := fetches(t, clientID)
	for name, forged := range map[string]string{
		"another state":        withParameter(t, back, "state", "forged-state-of-another-consent-aaaaaaaaaaa"),
		"an empty state":       withParameter(t, back, "state", ""),
		"another redirect URI": strings.Replace(back, "127.0.0.1:9/", "127.0.0.1:10/", 1),
	} {
		_, err := consent.Finish("", forged)
		if !errors.Is(err, criteo.ErrInvalidArgument) {
			t.Errorf("%s: want ErrInvalidArgument, got %v", name, err)
		}
		if err != nil && strings.Contains(err.Error(), consent.State()) {
			t.Errorf("%s: the error holds the state: %v", name, err)
		}
	}
	if n := fetches(t, clientID) - before; n != 0 {
		t.Errorf("%d requests for forged answers, want 0", n)
	}
	// The genuine answer still works after the forged ones.
	if _, err := consent.Finish("", back); err != nil {
		t.Errorf("the genuine answer: %v", err)
	}
}

func TestGetTokenPKCE(t *testing.T) {
	client := consentClient(t, "/consent")
	consent := newConsent(t, client, "demo-client")
	verifier := consent.CodeVerifier() // what a web app keeps in its session
	code := parameter(t, browse(t, consent.URL()), "code")
	consent.Close()

	wrong := strings.Repeat("w", 64)
	_, err := client.GetTokenPKCE(criteo.PKCERequest{ClientID: "demo-client", ClientSecret: "demo-secret",
		RedirectURI: redirectURI, Code: code, CodeVerifier: wrong})
	if !errors.Is(err, criteo.ErrBadRequest) {
		t.Fatalf("a wrong verifier: want ErrBadRequest, got %v", err)
	}
	if e := asError(t, err); e.HTTPStatus != 400 || e.Code != "invalid_grant" {
		t.Errorf("unexpected error fields %+v", e)
	}
	if strings.Contains(err.Error(), code) || strings.Contains(err.Error(), wrong) {
		t.Errorf("the error holds the code or the verifier: %v", err)
	}

	consent = newConsent(t, client, "demo-client")
	verifier = consent.CodeVerifier()
	code = parameter(t, browse(t, consent.URL()), "code")
	token, err := client.GetTokenPKCE(criteo.PKCERequest{ClientID: "demo-client", ClientSecret: "demo-secret",
		RedirectURI: redirectURI, Code: code, CodeVerifier: verifier})
	if err != nil {
		t.Fatal(err)
	}
	if token.AccessToken == "" || token.RefreshToken == "" {
		t.Errorf("unexpected token %+v", token)
	}

	_, err = client.GetTokenPKCE(criteo.PKCERequest{ClientID: "demo-client", RedirectURI: redirectURI, Code: code,
		CodeVerifier: "short"})
	if !errors.Is(err, criteo.ErrInvalidArgument) || !strings.Contains(err.Error(), "code_verifier") {
		t.Errorf("a short verifier: %v", err)
	}
	_, err = client.GetTokenPKCE(criteo.PKCERequest{ClientID: "demo-client", RedirectURI: redirectURI, Code: "a\x00b",
		CodeVerifier: verifier})
	if !errors.Is(err, criteo.ErrInvalidArgument) || asError(t, err).Message != "code contains a NUL byte" {
		t.Errorf("a NUL in the code: %v", err)
	}
}

func TestConsentArguments(t *testing.T) {
	client := consentClient(t, "/consent")
	if _, err := criteo.NewConsent(client, "", redirectURI); !errors.Is(err, criteo.ErrInvalidArgument) ||
		!strings.Contains(err.Error(), "client_id") {
		t.Errorf("an empty client id: %v", err)
	}
	if _, err := criteo.NewConsent(client, "id", "/callback"); !errors.Is(err, criteo.ErrInvalidArgument) ||
		!strings.Contains(err.Error(), "redirect_uri") {
		t.Errorf("a relative redirect URI: %v", err)
	}
	if _, err := criteo.NewConsent(client, "id\x00", redirectURI); !errors.Is(err, criteo.ErrInvalidArgument) ||
		asError(t, err).Message != "client_id contains a NUL byte" {
		t.Errorf("a NUL in the client id: %v", err)
	}
	for _, consentURL := range []string{"", "http://consent.example/request", serverURL + "/consent?x=1"} {
		if c, err := criteo.NewClient(criteo.WithConsentURL(consentURL)); !errors.Is(err, criteo.ErrInvalidArgument) ||
			!strings.Contains(err.Error(), "consent_url") {
			c.Close()
			t.Errorf("consent URL %q: want ErrInvalidArgument naming consent_url, got %v", consentURL, err)
		}
	}
	// The default consent page.
	consent, err := criteo.NewConsent(nil, "id", "https://app.example/callback")
	if err != nil {
		t.Fatal(err)
	}
	defer consent.Close()
	if !strings.HasPrefix(consent.URL(), "https://consent.criteo.com/request?response_type=code&client_id=id&") {
		t.Errorf("the default consent page: %q", consent.URL())
	}
	closed := consentClient(t, "/consent")
	consent = newConsent(t, closed, "demo-client")
	closed.Close()
	if _, err := consent.Finish("demo-secret", browse(t, consent.URL())); !errors.Is(err, criteo.ErrClosed) {
		t.Errorf("a consent whose client was closed: %v", err)
	}
}

func TestNamedTokenSource(t *testing.T) {
	client, dir := consentClient(t, "/consent"), storeDir(t)
	consent := newConsent(t, client, "demo-client")
	token, err := consent.Finish("demo-secret", browse(t, consent.URL()))
	if err != nil {
		t.Fatal(err)
	}
	name := "customer-" + t.Name()
	before := fetches(t, "demo-client")

	started, err := criteo.NewNamedTokenSource(client, "demo-client", "demo-secret", name, token, criteo.WithStore(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer started.Close()
	if err := started.StoreError(); err != nil {
		t.Errorf("StoreError: %v", err)
	}
	if got := tokenOf(t, started); got != token.AccessToken {
		t.Errorf("the started source serves another token")
	}

	// A second source of the lineage, from the store alone.
	found, err := criteo.NewNamedTokenSource(client, "demo-client", "demo-secret", name, nil, criteo.WithStore(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer found.Close()
	if got := tokenOf(t, found); got != token.AccessToken {
		t.Errorf("the source from the store serves another token")
	}
	if n := fetches(t, "demo-client") - before; n != 0 {
		t.Errorf("%d requests, want 0", n)
	}

	// It renews with the lineage's refresh token; the first source, once
	// the API refuses the old token, takes the renewed one from the store.
	found.Invalidate()
	renewed := tokenOf(t, found)
	if renewed == token.AccessToken || fetches(t, "demo-client")-before != 1 {
		t.Errorf("after Invalidate: a new token %v, %d requests", renewed != token.AccessToken,
			fetches(t, "demo-client")-before)
	}
	started.Reject(token.AccessToken)
	if got := tokenOf(t, started); got != renewed || fetches(t, "demo-client")-before != 1 {
		t.Errorf("the first source does not take the renewed token from the store")
	}
	if err := found.StoreError(); err != nil {
		t.Errorf("StoreError: %v", err)
	}

	// A name the store holds nothing under: ErrStore, nothing sent, and
	// the store itself works.
	nothing, err := criteo.NewNamedTokenSource(client, "demo-client", "demo-secret", name+"-none", nil,
		criteo.WithStore(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer nothing.Close()
	if _, err := nothing.Token(); !errors.Is(err, criteo.ErrStore) {
		t.Errorf("nothing stored under the name: want ErrStore, got %v", err)
	}
	if err := nothing.StoreError(); err != nil {
		t.Errorf("StoreError: %v", err)
	}
	if n := fetches(t, "demo-client") - before; n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestNamedTokenSourceArguments(t *testing.T) {
	client := newClient(t, serverURL)
	handMade := &criteo.Token{AccessToken: "eyJ", TokenType: "Bearer", RefreshToken: "rt"}
	if _, err := criteo.NewNamedTokenSource(client, "demo-client", "demo-secret", "n", handMade); !errors.Is(err, criteo.ErrInvalidArgument) {
		t.Errorf("a hand-made start token: %v", err)
	}
	// A token without a refresh token cannot start a lineage.
	token, err := client.GetToken(demo)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := criteo.NewNamedTokenSource(client, "demo-client", "demo-secret", "n", token); !errors.Is(err, criteo.ErrInvalidArgument) {
		t.Errorf("a start token without a refresh token: %v", err)
	}
	if _, err := criteo.NewNamedTokenSource(client, "demo-client", "demo-secret", "", nil); !errors.Is(err, criteo.ErrInvalidArgument) ||
		!strings.Contains(err.Error(), "name") {
		t.Errorf("an empty name: %v", err)
	}
	if _, err := criteo.NewNamedTokenSource(client, "demo-client", "", "n", nil); !errors.Is(err, criteo.ErrInvalidArgument) {
		t.Errorf("no secret: %v", err)
	}
	// A token from the authorization_code grant starts one, in memory.
	code, err := newClient(t, serverURL+"/scenario/rotate").GetToken(criteo.TokenRequest{GrantType: "authorization_code",
		ClientID: "demo-client", ClientSecret: "demo-secret", Code: "any", RedirectURI: "https://app.example/cb"})
	if err != nil {
		t.Fatal(err)
	}
	copied := *code // copies share the library's token
	source, err := criteo.NewNamedTokenSource(client, "demo-client", "demo-secret", "n", &copied)
	if err != nil {
		t.Fatal(err)
	}
	defer source.Close()
	if tokenOf(t, source) != code.AccessToken {
		t.Errorf("the source does not serve its start token")
	}
}
