package criteo_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	criteo "criteo-oauth/bindings/go"
)

// api is a loopback API that refuses one token with 401 and records what
// it was sent.
type api struct {
	*httptest.Server
	mu      sync.Mutex
	refused string
	seen    []string // "Authorization header|body" of each request
}

func newAPI(t *testing.T) *api {
	a := &api{}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		authorization := r.Header.Get("Authorization")
		a.mu.Lock()
		a.seen = append(a.seen, authorization+"|"+string(body))
		refused := authorization == "Bearer "+a.refused
		a.mu.Unlock()
		if refused {
			w.WriteHeader(http.StatusUnauthorized)
		}
		io.WriteString(w, "answer")
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *api) refuse(token string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.refused = token
}

func (a *api) requests() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.seen...)
}

func TestTransportAuthorizesAndRetriesOnceAfter401(t *testing.T) {
	source, err := criteo.NewTokenSource(newClient(t, serverURL), demo)
	if err != nil {
		t.Fatal(err)
	}
	defer source.Close()
	first, err := source.Token()
	if err != nil {
		t.Fatal(err)
	}
	api := newAPI(t)
	api.refuse(first.AccessToken)
	httpClient := &http.Client{Transport: &criteo.Transport{Source: source}}

	req, _ := http.NewRequest("POST", api.URL, strings.NewReader("payload"))
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	seen := api.requests()
	if resp.StatusCode != 200 || len(seen) != 2 {
		t.Fatalf("status %d after %d requests, want 200 after 2", resp.StatusCode, len(seen))
	}
	renewed, _ := source.Token()
	want := []string{"Bearer " + first.AccessToken + "|payload", "Bearer " + renewed.AccessToken + "|payload"}
	if renewed.AccessToken == first.AccessToken || seen[0] != want[0] || seen[1] != want[1] {
		t.Errorf("requests %q, want %q", seen, want)
	}
	if req.Header.Get("Authorization") != "" {
		t.Errorf("the caller's request was changed")
	}

	// A body that cannot be read twice: the 401 comes back as it is.
	api.refuse(renewed.AccessToken)
	req, _ = http.NewRequest("POST", api.URL, io.NopCloser(strings.NewReader("once")))
	resp, err = httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || len(api.requests()) != 3 {
		t.Errorf("status %d after %d requests, want 401 after 3", resp.StatusCode, len(api.requests()))
	}

	// No body: retried, with the token fetched after the 401.
	resp, err = httpClient.Get(api.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || len(api.requests()) != 5 {
		t.Errorf("status %d after %d requests, want 200 after 5", resp.StatusCode, len(api.requests()))
	}
}

func TestTransportReportsTokenErrorsAndClosesTheBody(t *testing.T) {
	req := demo
	req.ClientSecret = "wrong"
	source, err := criteo.NewTokenSource(newClient(t, serverURL), req)
	if err != nil {
		t.Fatal(err)
	}
	defer source.Close()
	api := newAPI(t)
	body := &closeRecorder{Reader: strings.NewReader("x")}
	request, _ := http.NewRequest("POST", api.URL, body)
	_, err = (&criteo.Transport{Source: source}).RoundTrip(request)
	if !errorsIsUnauthorized(err) || !body.closed {
		t.Errorf("want ErrUnauthorized and the body closed, got %v, closed=%v", err, body.closed)
	}
	if len(api.requests()) != 0 {
		t.Errorf("a request went out without a token")
	}
}

type closeRecorder struct {
	io.Reader
	closed bool
}

func (c *closeRecorder) Close() error {
	c.closed = true
	return nil
}
