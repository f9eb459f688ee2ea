package criteo_test

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	criteo "criteo-oauth/bindings/go"
)

// serverURL is the project's test token server, started by TestMain.
var serverURL string

func TestMain(m *testing.M) {
	path := os.Getenv("CRITEO_TEST_SERVER")
	if path == "" {
		path = "../../target/debug/criteo-test-server"
	}
	server := exec.Command(path)
	stdout, err := server.StdoutPipe()
	if err == nil {
		err = server.Start()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "cannot start the test server %s: %v\n", path, err)
		os.Exit(1)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		fmt.Fprintf(os.Stderr, "the test server printed no URL: %v\n", err)
		os.Exit(1)
	}
	serverURL = strings.TrimSpace(line)
	code := m.Run()
	server.Process.Kill()
	os.Exit(code)
}

var demo = criteo.TokenRequest{GrantType: "client_credentials", ClientID: "demo-client", ClientSecret: "demo-secret"}

func newClient(t *testing.T, host string, opts ...criteo.Option) *criteo.Client {
	t.Helper()
	opts = append([]criteo.Option{criteo.WithHost(host), criteo.WithMaxRetries(0), criteo.WithProxy("")}, opts...)
	client, err := criteo.NewClient(opts...)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(client.Close)
	return client
}

func TestGetToken(t *testing.T) {
	token, err := newClient(t, serverURL).GetToken(demo)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(token.AccessToken, "eyJ") || token.TokenType != "Bearer" {
		t.Errorf("unexpected token %+v", token)
	}
	if token.ExpiresIn != 900*time.Second || time.Until(token.ExpiresAt) < 890*time.Second {
		t.Errorf("expiry: %v, %v", token.ExpiresIn, token.ExpiresAt)
	}
	if token.RefreshToken != "" {
		t.Errorf("no refresh token expected, got %q", token.RefreshToken)
	}
	if token.Authorization() != "Bearer "+token.AccessToken {
		t.Errorf("Authorization() = %q", token.Authorization())
	}
}

func asError(t *testing.T, err error) *criteo.Error {
	t.Helper()
	var e *criteo.Error
	if !errors.As(err, &e) {
		t.Fatalf("want *criteo.Error, got %T: %v", err, err)
	}
	return e
}

func TestUnauthorized(t *testing.T) {
	req := demo
	req.ClientSecret = "wrong"
	_, err := newClient(t, serverURL).GetToken(req)
	if !errors.Is(err, criteo.ErrUnauthorized) || errors.Is(err, criteo.ErrBadRequest) {
		t.Fatalf("want ErrUnauthorized, got %v", err)
	}
	e := asError(t, err)
	if e.HTTPStatus != 401 || e.Code != "invalid_client" || e.RetryAfter != -1 {
		t.Errorf("unexpected error fields %+v", e)
	}
	want := "POST " + serverURL + "/oauth2/token answered 401 Unauthorized: invalid_client: client_id doesn't exist or the client_secret is invalid"
	if e.Message != want || err.Error() != "criteo: "+want {
		t.Errorf("message %q", e.Message)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Errorf("the secret leaked into %q", err)
	}
}

func TestBadRequest(t *testing.T) {
	_, err := newClient(t, serverURL+"/scenario/400-json").GetToken(demo)
	e := asError(t, err)
	if !errors.Is(err, criteo.ErrBadRequest) || e.Code != "invalid_grant" || e.Description != "The authorization code has expired" ||
		e.URI != "https://developers.criteo.com/oauth" {
		t.Fatalf("unexpected %+v", e)
	}
}

func TestRetryAfter(t *testing.T) {
	_, err := newClient(t, serverURL+"/scenario/429").GetToken(demo)
	e := asError(t, err)
	if !errors.Is(err, criteo.ErrHTTPStatus) || e.HTTPStatus != 429 || e.RetryAfter != 7*time.Second {
		t.Fatalf("unexpected %+v", e)
	}
}

func TestTimeout(t *testing.T) {
	client := newClient(t, serverURL+"/scenario/slow-3000", criteo.WithTimeouts(200*time.Millisecond, 500*time.Millisecond))
	started := time.Now()
	_, err := client.GetToken(demo)
	if !errors.Is(err, criteo.ErrTimeout) {
		t.Fatalf("want ErrTimeout, got %v", err)
	}
	if elapsed := time.Since(started); elapsed > 2500*time.Millisecond {
		t.Errorf("waited for the server: %v", elapsed)
	}
}

// A connect limit of 0 is the default, or the total when that is smaller:
// a total alone, under 10 s, is accepted.
func TestATotalAloneUnderTheDefaultConnectLimit(t *testing.T) {
	client := newClient(t, serverURL+"/scenario/slow-3000", criteo.WithTimeouts(0, 500*time.Millisecond))
	if _, err := client.GetToken(demo); !errors.Is(err, criteo.ErrTimeout) {
		t.Fatalf("want ErrTimeout, got %v", err)
	}
}

// An option given with an empty or out-of-range value is refused, naming
// it, as C refuses it: never quietly replaced by the default.
func TestExplicitOptionsNeverFallBackToADefault(t *testing.T) {
	cases := []struct {
		option criteo.Option
		want   string
	}{
		{criteo.WithHost(""), "base_url"},
		{criteo.WithConsentURL(""), "consent_url"},
		{criteo.WithCAFile(""), "ca_file"},
		{criteo.WithUserAgent(""), "user_agent must not be empty"},
		{criteo.WithMaxRetries(-1), "max retries must be between 0 and 10"},
		{criteo.WithMaxRetries(11), "max retries must be between 0 and 10"},
		{criteo.WithMaxConcurrentRequests(0), "max concurrent requests must be between 1 and 1024"},
		{criteo.WithMaxConcurrentRequests(1025), "max concurrent requests must be between 1 and 1024"},
		{criteo.WithTimeouts(-time.Second, 0), "timeouts must not be negative"},
		{criteo.WithTimeouts(0, -time.Millisecond), "timeouts must not be negative"},
		{criteo.WithTimeouts(0, 50*24*time.Hour), "timeouts must be at most 4294967295 ms"},
	}
	for _, c := range cases {
		client, err := criteo.NewClient(c.option)
		if err == nil {
			client.Close()
			t.Errorf("want %q refused, got a client", c.want)
			continue
		}
		if !errors.Is(err, criteo.ErrInvalidArgument) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("want ErrInvalidArgument naming %q, got %v", c.want, err)
		}
	}
}

// Below a millisecond is 1 ms, not 0 (the default of 30 s).
func TestASubMillisecondTotalIsNotTheDefault(t *testing.T) {
	client := newClient(t, serverURL+"/scenario/slow-3000", criteo.WithTimeouts(0, 500*time.Microsecond))
	started := time.Now()
	if _, err := client.GetToken(demo); !errors.Is(err, criteo.ErrTimeout) {
		t.Fatalf("want ErrTimeout, got %v after %v", err, time.Since(started))
	}
}

func TestBadArguments(t *testing.T) {
	client := newClient(t, serverURL)
	req := demo
	req.ClientID = ""
	_, err := client.GetToken(req)
	if !errors.Is(err, criteo.ErrInvalidArgument) || asError(t, err).Message != "client_id must not be empty" {
		t.Errorf("empty client id: %v", err)
	}
	req = demo
	req.ClientSecret = "se\ncret"
	if _, err := client.GetToken(req); !errors.Is(err, criteo.ErrInvalidArgument) {
		t.Errorf("control character: %v", err)
	}
	req.ClientSecret = "a\x00b"
	if _, err := client.GetToken(req); !errors.Is(err, criteo.ErrInvalidArgument) ||
		asError(t, err).Message != "client_secret contains a NUL byte" {
		t.Errorf("NUL byte: %v", err)
	}
	_, err = criteo.NewClient(criteo.WithHost("http://api.criteo.com"))
	if !errors.Is(err, criteo.ErrInvalidArgument) || !strings.Contains(err.Error(), "not loopback") {
		t.Errorf("plain http host: %v", err)
	}
	_, err = criteo.NewClient(criteo.WithHost("http://127.0.0.1:1\x00.evil.example"))
	if !errors.Is(err, criteo.ErrInvalidArgument) || asError(t, err).Message != "base_url contains a NUL byte" {
		t.Errorf("NUL in host: %v", err)
	}
	_, err = criteo.NewClient(criteo.WithMaxRetries(11))
	if !errors.Is(err, criteo.ErrInvalidArgument) {
		t.Errorf("max retries: %v", err)
	}
}

func TestClosedClient(t *testing.T) {
	client, err := criteo.NewClient(criteo.WithHost(serverURL))
	if err != nil {
		t.Fatal(err)
	}
	client.Close()
	client.Close()
	if _, err := client.GetToken(demo); !errors.Is(err, criteo.ErrInvalidArgument) {
		t.Errorf("closed client: %v", err)
	}
}

func TestManyGoroutinesShareOneClientAndOneSource(t *testing.T) {
	client := newClient(t, serverURL)
	source, err := criteo.NewTokenSource(client, demo)
	if err != nil {
		t.Fatal(err)
	}
	defer source.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	var first sync.Once
	var shared string
	var mu sync.Mutex
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 5; j++ {
				if _, err := client.GetToken(demo); err != nil {
					errs <- err
					return
				}
				token, err := source.Token()
				if err != nil {
					errs <- err
					return
				}
				first.Do(func() { shared = token.AccessToken })
				mu.Lock()
				same := token.AccessToken == shared
				mu.Unlock()
				if !same {
					errs <- fmt.Errorf("the source handed out a second token")
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestTokenSourceInvalidate(t *testing.T) {
	source, err := criteo.NewTokenSource(newClient(t, serverURL), demo)
	if err != nil {
		t.Fatal(err)
	}
	defer source.Close()
	a, err := source.Token()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := source.Token()
	source.Invalidate()
	c, err := source.Token()
	if err != nil {
		t.Fatal(err)
	}
	if a.AccessToken != b.AccessToken || a.AccessToken == c.AccessToken {
		t.Errorf("cache then refresh expected: %s %s %s", a.AccessToken, b.AccessToken, c.AccessToken)
	}
	for _, margin := range []time.Duration{-500 * time.Millisecond, 24*time.Hour + 900*time.Millisecond} {
		if err := source.SetRefreshMargin(margin); !errors.Is(err, criteo.ErrInvalidArgument) {
			t.Errorf("margin %v: want ErrInvalidArgument, got %v", margin, err)
		}
	}
	if err := source.SetRefreshMargin(48 * time.Hour); !errors.Is(err, criteo.ErrInvalidArgument) {
		t.Errorf("margin: %v", err)
	}
	source.Close()
	if _, err := source.Token(); !errors.Is(err, criteo.ErrInvalidArgument) {
		t.Errorf("closed source: %v", err)
	}
}

func TestTokenSourceErrors(t *testing.T) {
	_, err := criteo.NewTokenSource(nil, criteo.TokenRequest{GrantType: "authorization_code", ClientID: "a", ClientSecret: "b"})
	if !errors.Is(err, criteo.ErrInvalidArgument) {
		t.Errorf("missing code: %v", err)
	}
	source, err := criteo.NewTokenSource(newClient(t, serverURL+"/scenario/401-json"), demo)
	if err != nil {
		t.Fatal(err)
	}
	defer source.Close()
	if _, err := source.Token(); !errors.Is(err, criteo.ErrUnauthorized) {
		t.Errorf("want ErrUnauthorized, got %v", err)
	}
}

func TestVersionAndStatusNames(t *testing.T) {
	if criteo.Version() != "0.1.0" {
		t.Errorf("Version() = %q", criteo.Version())
	}
	if criteo.StatusUnauthorized.String() != "CRITEO_ERR_UNAUTHORIZED" || criteo.Status(99).String() != "CRITEO_ERR_UNKNOWN" {
		t.Errorf("status names: %s %s", criteo.StatusUnauthorized, criteo.Status(99))
	}
}

func errorsIsUnauthorized(err error) bool { return errors.Is(err, criteo.ErrUnauthorized) }

func TestRefreshCallbackSeesEveryRotatedToken(t *testing.T) {
	code := criteo.TokenRequest{GrantType: "authorization_code", ClientID: "demo-client", ClientSecret: "demo-secret",
		Code: "any", RedirectURI: "https://app.example/cb"}
	source, err := criteo.NewTokenSource(newClient(t, serverURL+"/scenario/rotate"), code)
	if err != nil {
		t.Fatal(err)
	}
	defer source.Close()
	var seen []string
	var inside *criteo.Token
	source.SetRefreshCallback(func(token *criteo.Token) {
		seen = append(seen, token.RefreshToken)
		inside, _ = source.Token() // answered with this token, without a fetch
	})
	first, err := source.Token()
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 || seen[0] != "rt-1" || inside == nil || inside.AccessToken != first.AccessToken {
		t.Fatalf("before Token returned, the callback saw %q and got %+v", seen, inside)
	}
	source.Invalidate()
	if _, err := source.Token(); err != nil {
		t.Fatal(err)
	}
	source.SetRefreshCallback(nil)
	source.Invalidate()
	if _, err := source.Token(); err != nil {
		t.Fatal(err)
	}
	if strings.Join(seen, ",") != "rt-1,rt-2" {
		t.Errorf("the callback saw %q", seen)
	}
}

func TestTokenValid(t *testing.T) {
	token, err := newClient(t, serverURL).GetToken(demo)
	if err != nil {
		t.Fatal(err)
	}
	if !token.Valid() {
		t.Errorf("a new token is valid: %+v", token)
	}
	var none *criteo.Token
	cases := map[string]*criteo.Token{
		"nil":              none,
		"empty":            {},
		"expired":          {AccessToken: "a", ExpiresAt: time.Now().Add(-time.Second)},
		"expiring in 5 s":  {AccessToken: "a", ExpiresAt: time.Now().Add(5 * time.Second)},
		"valid for 1 min":  {AccessToken: "a", ExpiresAt: time.Now().Add(time.Minute)},
		"unknown lifetime": {AccessToken: "a"},
	}
	for name, token := range cases {
		want := name == "valid for 1 min" || name == "unknown lifetime"
		if token.Valid() != want {
			t.Errorf("%s: Valid() = %v", name, token.Valid())
		}
	}
}
