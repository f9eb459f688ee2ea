package criteo_test

import (
	"strings"
	"sync"
	"testing"

	criteo "criteo-oauth/bindings/go"
)

// recorder collects events; safe for the callback's many threads.
type recorder struct {
	mu     sync.Mutex
	events []criteo.Event
}

func (r *recorder) add(e criteo.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) kinds() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var kinds []string
	for _, e := range r.events {
		kinds = append(kinds, e.Kind.String())
	}
	return kinds
}

func TestTraceTellsEachStepWithoutTheSecret(t *testing.T) {
	var r recorder
	host := strings.Replace(serverURL, "127.0.0.1", "localhost", 1)
	client := newClient(t, host, criteo.WithTrace(r.add))
	if _, err := client.GetToken(demo); err != nil {
		t.Fatal(err)
	}
	want := "request lookup connect connect response"
	if got := strings.Join(r.kinds(), " "); got != want {
		t.Errorf("kinds %q, want %q", got, want)
	}
	for _, e := range r.events {
		if strings.Contains(e.Message, demo.ClientSecret) {
			t.Errorf("the secret in %+v", e)
		}
	}
	if !strings.HasPrefix(r.events[len(r.events)-1].Message, "200 OK") {
		t.Errorf("last event %+v", r.events[len(r.events)-1])
	}
}

func TestTraceOfASourceAndItsStats(t *testing.T) {
	var r recorder
	client := newClient(t, serverURL, criteo.WithTrace(r.add))
	source, err := criteo.NewTokenSource(client, demo)
	if err != nil {
		t.Fatal(err)
	}
	defer source.Close()
	client.Close() // the source keeps the client, and its trace
	if _, err := source.Token(); err != nil {
		t.Fatal(err)
	}
	var fetches []string
	for _, e := range r.events {
		if e.Kind == criteo.EventFetch {
			fetches = append(fetches, e.Message)
		}
	}
	if strings.Join(fetches, "; ") != "asking the server: no token yet; a token from the server" {
		t.Errorf("fetch events %q", fetches)
	}
	stats, err := source.Stats()
	if err != nil || stats != (criteo.Stats{Fetches: 1}) {
		t.Errorf("stats %+v, %v", stats, err)
	}
}

func TestAPanickingTraceIsContained(t *testing.T) {
	client := newClient(t, serverURL, criteo.WithTrace(func(criteo.Event) { panic("from the trace") }))
	if _, err := client.GetToken(demo); err != nil {
		t.Fatalf("the call failed: %v", err)
	}
}
