package criteo_test

import (
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	criteo "criteo-oauth/bindings/go"
)

// lives900 answers any credentials with a new 900 s token each time.
const lives900 = "/scenario/lives-900"

// storeRequest is a request for a client id of this test alone, so that
// the server's count is the test's own.
func storeRequest(t *testing.T) criteo.TokenRequest {
	return criteo.TokenRequest{GrantType: "client_credentials", ClientID: "go-" + t.Name(), ClientSecret: "store-secret"}
}

// storeDir is a new store directory, mode 0700, removed after the test.
func storeDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "store")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return dir
}

// fetches asks the test server how many token requests clientID made.
func fetches(t *testing.T, clientID string) int {
	t.Helper()
	resp, err := http.Get(serverURL + "/count/" + clientID)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(string(body))
	if resp.StatusCode != 200 || err != nil {
		t.Fatalf("GET /count/%s: %d %q", clientID, resp.StatusCode, body)
	}
	return n
}

func newStoreSource(t *testing.T, host string, req criteo.TokenRequest, opts ...criteo.SourceOption) *criteo.TokenSource {
	t.Helper()
	source, err := criteo.NewTokenSource(newClient(t, serverURL+host), req, opts...)
	if err != nil {
		t.Fatalf("NewTokenSource: %v", err)
	}
	t.Cleanup(source.Close)
	return source
}

func tokenOf(t *testing.T, source *criteo.TokenSource) string {
	t.Helper()
	token, err := source.Token()
	if err != nil {
		t.Fatal(err)
	}
	return token.AccessToken
}

func TestStoreSharesOneTokenBetweenTwoSources(t *testing.T) {
	req, dir := storeRequest(t), storeDir(t)
	a := newStoreSource(t, lives900, req, criteo.WithStore(dir))
	b := newStoreSource(t, lives900, req, criteo.WithStore(dir))
	first, second := tokenOf(t, a), tokenOf(t, b)
	if first != second {
		t.Errorf("two sources on one store got two tokens")
	}
	if n := fetches(t, req.ClientID); n != 1 {
		t.Errorf("%d fetches, want 1", n)
	}
	if err := a.StoreError(); err != nil {
		t.Errorf("StoreError: %v", err)
	}

	// Without the store, or with another secret (another lineage), no sharing.
	alone := newStoreSource(t, lives900, req)
	other := req
	other.ClientSecret = "another-secret"
	stranger := newStoreSource(t, lives900, other, criteo.WithStore(dir))
	if tokenOf(t, alone) == first || tokenOf(t, stranger) == first || fetches(t, req.ClientID) != 3 {
		t.Errorf("a source without the store, or of another lineage, shared the token")
	}
	if err := alone.StoreError(); err != nil {
		t.Errorf("StoreError without a store: %v", err)
	}
}

func TestRejectDropsOnlyTheTokenItNames(t *testing.T) {
	req, dir := storeRequest(t), storeDir(t)
	a := newStoreSource(t, lives900, req, criteo.WithStore(dir))
	b := newStoreSource(t, lives900, req, criteo.WithStore(dir))
	stale := tokenOf(t, a)
	if tokenOf(t, b) != stale {
		t.Fatal("the sources do not share the token")
	}
	a.Reject(stale)
	renewed := tokenOf(t, a)
	if renewed == stale || fetches(t, req.ClientID) != 2 {
		t.Fatalf("Reject of the current token: %d fetches, a new token: %v", fetches(t, req.ClientID), renewed != stale)
	}
	// Late 401s for the stale token, here and in the other source: the
	// renewed token is kept, and b takes it from the store.
	a.Reject(stale)
	b.Reject(stale)
	if tokenOf(t, a) != renewed || tokenOf(t, b) != renewed {
		t.Errorf("a stale Reject dropped the renewed token")
	}
	if n := fetches(t, req.ClientID); n != 2 {
		t.Errorf("%d fetches, want 2", n)
	}
	// Rejecting what is no token at all drops nothing either.
	a.Reject("")
	a.Reject(renewed + "\x00")
	if tokenOf(t, a) != renewed || fetches(t, req.ClientID) != 2 {
		t.Errorf("Reject of no token dropped the token")
	}

	// The same without a store.
	alone := newStoreSource(t, lives900, criteo.TokenRequest{GrantType: "client_credentials",
		ClientID: "go-" + t.Name() + "-alone", ClientSecret: "s"})
	first := tokenOf(t, alone)
	alone.Reject(first)
	second := tokenOf(t, alone)
	alone.Reject(first)
	if second == first || tokenOf(t, alone) != second {
		t.Errorf("Reject without a store: %v %v", second != first, tokenOf(t, alone) == second)
	}
	alone.Close()
	alone.Reject(second) // a closed source ignores it
}

// Two sources on one store, each behind a Transport, and an API that
// refuses their first token: each rejects the token it sent, and the
// store makes one fetch for both (Invalidate would have dropped the new
// token the other source had just fetched).
func TestTransportRejectsTheTokenItSentOn401(t *testing.T) {
	req, dir := storeRequest(t), storeDir(t)
	a := newStoreSource(t, lives900, req, criteo.WithStore(dir))
	b := newStoreSource(t, lives900, req, criteo.WithStore(dir))
	refused := tokenOf(t, a)
	if tokenOf(t, b) != refused {
		t.Fatal("the sources do not share the token")
	}
	api := newAPI(t)
	api.refuse(refused)
	var wg sync.WaitGroup
	statuses := make(chan int, 16)
	for i := 0; i < 16; i++ {
		source := a
		if i%2 == 1 {
			source = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := (&http.Client{Transport: &criteo.Transport{Source: source}}).Get(api.URL)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		}()
	}
	wg.Wait()
	close(statuses)
	for status := range statuses {
		if status != 200 {
			t.Errorf("status %d after the retry", status)
		}
	}
	if n := fetches(t, req.ClientID); n != 2 {
		t.Errorf("%d fetches for 16 requests refused with one token, want 2 (the first token and one more)", n)
	}
	renewed := tokenOf(t, a)
	if renewed == refused || tokenOf(t, b) != renewed {
		t.Errorf("the sources do not share the renewed token")
	}
	for _, seen := range api.requests() {
		if seen != "Bearer "+refused+"|" && seen != "Bearer "+renewed+"|" {
			t.Errorf("a request was sent with a third token")
		}
	}
}

// A refresh token rotated by one source is the one the other presents:
// strict-rotate refuses a refresh token presented twice.
func TestStoreSharesRotatedRefreshTokens(t *testing.T) {
	dir := storeDir(t)
	req := criteo.TokenRequest{GrantType: "refresh_token", ClientID: "go-" + t.Name(), ClientSecret: "s",
		RefreshToken: "seed-" + t.Name() + "-" + strconv.Itoa(os.Getpid())}
	a := newStoreSource(t, "/scenario/strict-rotate", req, criteo.WithStore(dir))
	b := newStoreSource(t, "/scenario/strict-rotate", req, criteo.WithStore(dir))
	first := tokenOf(t, a)
	a.Reject(first)
	second := tokenOf(t, a) // presents the rotated refresh token
	if tokenOf(t, b) != second {
		t.Fatal("b did not take the token from the store")
	}
	b.Reject(second)
	third, err := b.Token() // presents a's rotated refresh token, not the spent seed
	if err != nil {
		t.Fatalf("the second source presented a spent refresh token: %v", err)
	}
	if third.AccessToken == second || fetches(t, req.ClientID) != 3 {
		t.Errorf("want a third token from a third fetch, got %d fetches", fetches(t, req.ClientID))
	}
}

func TestStoreOptions(t *testing.T) {
	req := storeRequest(t)
	_, err := criteo.NewTokenSource(newClient(t, serverURL+lives900), req, criteo.WithStore(""))
	if !errors.Is(err, criteo.ErrInvalidArgument) || asError(t, err).Message != "store must not be empty" {
		t.Errorf(`WithStore(""): want ErrInvalidArgument, got %v`, err)
	}
	_, err = criteo.NewTokenSource(nil, req, criteo.WithStore("/tmp/a\x00b"))
	if !errors.Is(err, criteo.ErrInvalidArgument) || asError(t, err).Message != "store contains a NUL byte" {
		t.Errorf("NUL byte: %v", err)
	}
	open := filepath.Join(t.TempDir(), "open")
	if err := os.Mkdir(open, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(open, 0o755) // whatever the umask
	_, err = criteo.NewTokenSource(nil, req, criteo.WithStore(open))
	if !errors.Is(err, criteo.ErrInvalidArgument) || !strings.Contains(err.Error(), "open to group or others") {
		t.Errorf("a directory open to others: %v", err)
	}

	// The default store: $XDG_RUNTIME_DIR/criteo-oauth, made 0700; the
	// last option given counts.
	runtimeDir := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", runtimeDir)
	a := newStoreSource(t, lives900, req, criteo.WithStore(""), criteo.WithDefaultStore())
	b := newStoreSource(t, lives900, req, criteo.WithStore(filepath.Join(runtimeDir, "criteo-oauth")))
	if tokenOf(t, a) != tokenOf(t, b) || fetches(t, req.ClientID) != 1 {
		t.Errorf("WithDefaultStore is not $XDG_RUNTIME_DIR/criteo-oauth")
	}
	info, err := os.Stat(filepath.Join(runtimeDir, "criteo-oauth"))
	if err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("the default store directory: %v, %v", info, err)
	}
}

func TestStoreErrorReportsAFailedStoreWithoutFailingToken(t *testing.T) {
	req, dir := storeRequest(t), storeDir(t)
	source := newStoreSource(t, lives900, req, criteo.WithStore(dir))
	// A file where the directory was: a removed directory is made again.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := source.Token(); err != nil {
		t.Fatalf("a store failure failed Token: %v", err)
	}
	err := source.StoreError()
	if !errors.Is(err, criteo.ErrStore) || asError(t, err).Status != criteo.StatusStore {
		t.Errorf("StoreError after the directory was replaced by a file: %v", err)
	}
	if criteo.StatusStore.String() != "CRITEO_ERR_STORE" {
		t.Errorf("StatusStore is %s", criteo.StatusStore)
	}
	source.Close()
	if err := source.StoreError(); !errors.Is(err, criteo.ErrClosed) {
		t.Errorf("StoreError of a closed source: %v", err)
	}
}
