package criteo

import (
	"sync"
	"unsafe"
)

// handle is a C object shared by the calls that use it. Closing marks it
// closed at once, and the object is freed when the last call using it
// ends: Close never waits for a call, and never frees memory a call is
// still reading.
type handle struct {
	what string // "client" or "token source", for the closed error
	free func(unsafe.Pointer)

	mu     sync.Mutex
	ptr    unsafe.Pointer // nil once freed
	users  int
	closed bool
}

func newHandle(what string, ptr unsafe.Pointer, free func(unsafe.Pointer)) *handle {
	return &handle{what: what, free: free, ptr: ptr}
}

// acquire returns the object for one call, which must then call release.
func (h *handle) acquire() (unsafe.Pointer, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, closedError(h.what)
	}
	h.users++
	return h.ptr, nil
}

func (h *handle) release() {
	h.mu.Lock()
	h.users--
	h.freeIfDone()
}

// close marks the object closed; it may be called any number of times.
func (h *handle) close() {
	h.mu.Lock()
	h.closed = true
	h.freeIfDone()
}

// freeIfDone unlocks h, and frees the object once it is closed and no
// call is using it.
func (h *handle) freeIfDone() {
	var ptr unsafe.Pointer
	if h.closed && h.users == 0 {
		ptr, h.ptr = h.ptr, nil
	}
	h.mu.Unlock()
	if ptr != nil {
		h.free(ptr)
	}
}
