package criteo_test

import (
	"context"
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

// promptly is how soon a call must return once its context is done or
// its object closed: generous for a loaded 2-core machine, and far below
// the slow scenarios' delays.
const promptly = 500 * time.Millisecond

func TestGetTokenContextReturnsWhenTheContextIsDone(t *testing.T) {
	client := newClient(t, serverURL+"/scenario/slow-3000")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	started := time.Now()
	_, err := client.GetTokenContext(ctx, demo)
	if elapsed := time.Since(started); elapsed > 200*time.Millisecond+promptly {
		t.Errorf("returned %v after the call started, not when the context ended", elapsed)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("want an error matching context.DeadlineExceeded, got %v", err)
	}

	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	if _, err := client.GetTokenContext(ctx, demo); !errors.Is(err, context.Canceled) {
		t.Errorf("want an error matching context.Canceled, got %v", err)
	}
	if _, err := client.GetTokenContext(ctx, demo); !errors.Is(err, context.Canceled) {
		t.Errorf("a done context: want context.Canceled, got %v", err)
	}
}

func TestTokenContextLeavesTheFetchToFinishForTheNextCaller(t *testing.T) {
	source, err := criteo.NewTokenSource(newClient(t, serverURL+"/scenario/slow-3000"), demo)
	if err != nil {
		t.Fatal(err)
	}
	defer source.Close()
	started := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := source.TokenContext(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want context.DeadlineExceeded, got %v", err)
	}
	if elapsed := time.Since(started); elapsed > 200*time.Millisecond+promptly {
		t.Errorf("returned after %v", elapsed)
	}
	token, err := source.Token()
	if err != nil {
		t.Fatal(err)
	}
	// The abandoned fetch ends 3 s after it started; a second one would
	// end 3 s after this call.
	if elapsed := time.Since(started); elapsed > 5*time.Second {
		t.Errorf("the abandoned fetch was not shared: a token after %v", elapsed)
	}
	again, err := source.Token()
	if err != nil || again.AccessToken != token.AccessToken {
		t.Errorf("the fetched token is cached: %v, %v", again, err)
	}
}

func TestTimeoutsMatchContextDeadlineExceeded(t *testing.T) {
	client := newClient(t, serverURL+"/scenario/slow-3000", criteo.WithTimeouts(200*time.Millisecond, 300*time.Millisecond))
	_, err := client.GetToken(demo)
	if !errors.Is(err, criteo.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want ErrTimeout matching context.DeadlineExceeded, got %v", err)
	}
	var timeout interface{ Timeout() bool }
	if !errors.As(err, &timeout) || !timeout.Timeout() {
		t.Errorf("Timeout() should be true for %v", err)
	}
	if errors.Is(asError(t, err), criteo.ErrClosed) {
		t.Errorf("a timeout is not ErrClosed")
	}
}

// TestWaitingGoroutinesHoldNoThread runs in a process of its own (the Go
// runtime keeps every thread it ever made, so another test's threads would
// count): 1,000 goroutines ask one source for its first token, which takes
// 2 s to come, and the process's threads are counted while they wait.
func TestWaitingGoroutinesHoldNoThread(t *testing.T) {
	if os.Getenv("CRITEO_THREADS_CHILD") == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestWaitingGoroutinesHoldNoThread$", "-test.v")
		cmd.Env = append(os.Environ(), "CRITEO_THREADS_CHILD=1", "CRITEO_TEST_SERVER_URL="+serverURL)
		out, err := cmd.CombinedOutput()
		t.Logf("%s", out)
		if err != nil {
			t.Fatalf("the child failed: %v", err)
		}
		return
	}
	client, err := criteo.NewClient(criteo.WithHost(os.Getenv("CRITEO_TEST_SERVER_URL")+"/scenario/slow-2000"),
		criteo.WithMaxRetries(0), criteo.WithProxy(""))
	if err != nil {
		t.Fatal(err)
	}
	source, err := criteo.NewTokenSource(client, demo)
	if err != nil {
		t.Fatal(err)
	}
	before := threads(t)
	var wg sync.WaitGroup
	tokens := make(chan string, 1000)
	for i := 0; i < 1000; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			token, err := source.Token()
			if err != nil {
				t.Error(err)
				return
			}
			tokens <- token.AccessToken
		}()
	}
	time.Sleep(1000 * time.Millisecond)
	during := threads(t)
	wg.Wait()
	close(tokens)
	distinct := map[string]bool{}
	for token := range tokens {
		distinct[token] = true
	}
	fmt.Printf("OS threads: %d before, %d while 1000 goroutines waited\n", before, during)
	if during > 50 {
		t.Errorf("%d OS threads while 1000 goroutines waited for one fetch", during)
	}
	if len(distinct) != 1 {
		t.Errorf("one fetch expected, got %d tokens", len(distinct))
	}
}

func threads(t *testing.T) int {
	t.Helper()
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		var n int
		if _, err := fmt.Sscanf(line, "Threads: %d", &n); err == nil {
			return n
		}
	}
	t.Fatal("no Threads line in /proc/self/status")
	return 0
}

func TestCloseReturnsAtOnceWhileCallsAreInFlight(t *testing.T) {
	client, err := criteo.NewClient(criteo.WithHost(serverURL+"/scenario/slow-2000"), criteo.WithProxy(""))
	if err != nil {
		t.Fatal(err)
	}
	source, err := criteo.NewTokenSource(client, demo)
	if err != nil {
		t.Fatal(err)
	}
	results := make(chan error, 2)
	go func() { _, err := client.GetToken(demo); results <- err }()
	go func() { _, err := source.Token(); results <- err }()
	time.Sleep(300 * time.Millisecond)

	started := time.Now()
	client.Close()
	source.Close()
	source.Close()
	if elapsed := time.Since(started); elapsed > promptly {
		t.Errorf("Close waited %v for the calls in flight", elapsed)
	}
	for i := 0; i < 2; i++ {
		if err := <-results; err != nil {
			t.Errorf("a call in flight when Close was called failed: %v", err)
		}
	}
	if _, err := client.GetToken(demo); !errors.Is(err, criteo.ErrClosed) || !errors.Is(err, criteo.ErrInvalidArgument) {
		t.Errorf("closed client: %v", err)
	}
	if _, err := source.Token(); !errors.Is(err, criteo.ErrClosed) {
		t.Errorf("closed source: %v", err)
	}
	if err := source.SetRefreshMargin(time.Second); !errors.Is(err, criteo.ErrClosed) {
		t.Errorf("closed source: %v", err)
	}
	source.Invalidate()
	if _, err := criteo.NewTokenSource(client, demo); !errors.Is(err, criteo.ErrClosed) {
		t.Errorf("a source from a closed client: %v", err)
	}
}
