package criteo

/*
#include "criteo_oauth.h"
*/
import "C"

import (
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// EventKind says what an Event is about.
type EventKind uint32

// The kinds of events, as the C library numbers them.
const (
	EventLookup   EventKind = C.CRITEO_EVENT_LOOKUP   // a host name's addresses
	EventConnect  EventKind = C.CRITEO_EVENT_CONNECT  // a connection attempt begun, failed or won
	EventTLS      EventKind = C.CRITEO_EVENT_TLS      // a new connection's TLS version, suite, resumption
	EventRequest  EventKind = C.CRITEO_EVENT_REQUEST  // an attempt begins (never the form)
	EventResponse EventKind = C.CRITEO_EVENT_RESPONSE // the answer's status and size (never the body)
	EventRetry    EventKind = C.CRITEO_EVENT_RETRY    // a failed attempt tried again, and the wait
	EventFetch    EventKind = C.CRITEO_EVENT_FETCH    // a token source's fetch: why, and how it ended
)

var eventNames = map[EventKind]string{EventLookup: "lookup", EventConnect: "connect", EventTLS: "tls",
	EventRequest: "request", EventResponse: "response", EventRetry: "retry", EventFetch: "fetch"}

func (k EventKind) String() string {
	if name, ok := eventNames[k]; ok {
		return name
	}
	return "event"
}

// Event is one step of a call or fetch. Message is one line, redacted
// like error messages: it never holds a secret, a code, a refresh token,
// an access token or a proxy password. Elapsed counts from the start of
// its call, or for EventFetch of its fetch.
type Event struct {
	Kind    EventKind
	Message string
	Elapsed time.Duration
}

// WithTrace calls fn with every step of the client's calls and of the
// fetches of its token sources, on the goroutine or thread doing the work
// (the library's own thread for a refresh in the background), from several
// at once when they work at once. fn must be quick (the call waits for it)
// and must not call the client or its sources. A panic in fn is recovered
// and dropped. fn is kept until the client and every source made from it
// are closed; events of a fetch still under way after that are dropped.
// To log with log/slog:
//
//	criteo.WithTrace(func(e criteo.Event) {
//		slog.Debug(e.Message, "kind", e.Kind.String(), "elapsed", e.Elapsed)
//	})
func WithTrace(fn func(Event)) Option { return func(o *options) { o.trace = fn } }

// traces holds each traced client's fn by the id C passes back as
// user_data: a lookup that finds nothing (the client and its sources all
// closed) drops the event, where a cgo.Handle would panic.
var (
	traces      sync.Map // uintptr -> *traceHook
	lastTraceID atomic.Uintptr
)

// traceHook is a client's fn, and how many of the client and its sources
// are still open.
type traceHook struct {
	id    uintptr
	fn    func(Event)
	users atomic.Int64
}

func newTraceHook(fn func(Event)) *traceHook {
	hook := &traceHook{id: lastTraceID.Add(1), fn: fn}
	hook.users.Store(1)
	traces.Store(hook.id, hook)
	return hook
}

// retain counts one more user (a source made from the client); nil-safe.
func (h *traceHook) retain() {
	if h != nil {
		h.users.Add(1)
	}
}

// release counts one user fewer, forgetting fn after the last; nil-safe.
func (h *traceHook) release() {
	if h != nil && h.users.Add(-1) == 0 {
		traces.Delete(h.id)
	}
}

//export criteoGoTrace
func criteoGoTrace(userData unsafe.Pointer, event *C.criteo_event) {
	found, ok := traces.Load(uintptr(userData))
	if !ok {
		return
	}
	e := Event{
		Kind:    EventKind(C.criteo_event_kind(event)),
		Message: C.GoString(C.criteo_event_message(event)),
		Elapsed: time.Duration(C.criteo_event_elapsed_us(event)) * time.Microsecond,
	}
	// A panic must not unwind through the C library.
	defer func() { _ = recover() }()
	found.(*traceHook).fn(e)
}

// Stats counts a token source's fetches in this process (a child of fork
// starts from its parent's counts).
type Stats struct {
	Fetches       uint64 // requests for a token the source made
	FetchFailures uint64 // those that failed
	StoreHits     uint64 // fetches avoided: another process had stored a token
}

// Stats reads the source's counters; an error matching ErrClosed once
// the source is closed. Reading never slows the source's Token calls.
func (s *TokenSource) Stats() (Stats, error) {
	var stats Stats
	err := s.with(func(ptr unsafe.Pointer) error {
		source := (*C.criteo_token_source)(ptr)
		stats = Stats{
			Fetches:       uint64(C.criteo_token_source_stat(source, C.CRITEO_STAT_FETCHES)),
			FetchFailures: uint64(C.criteo_token_source_stat(source, C.CRITEO_STAT_FETCH_FAILURES)),
			StoreHits:     uint64(C.criteo_token_source_stat(source, C.CRITEO_STAT_STORE_HITS)),
		}
		return nil
	})
	return stats, err
}
