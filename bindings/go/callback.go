package criteo

/*
#include "criteo_oauth.h"
*/
import "C"

import (
	"runtime/cgo"
	"sync/atomic"
	"unsafe"
)

// refreshHook is what the C source's refresh callback reaches: the Go
// function set by SetRefreshCallback, if any. One hook lives as long as
// its C source, so a callback under way never finds it gone.
type refreshHook struct {
	fn atomic.Pointer[func(*Token)]
}

//export criteoGoRefresh
func criteoGoRefresh(userData unsafe.Pointer, token *C.criteo_token) {
	hook := cgo.Handle(uintptr(userData)).Value().(*refreshHook)
	if fn := hook.fn.Load(); fn != nil {
		(*fn)(copyToken(token))
	}
}
