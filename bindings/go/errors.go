package criteo

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Error is a failed call: the status, the HTTP answer if one came, the
// OAuth error fields, and one readable message (never holding a secret).
type Error struct {
	Status      Status
	HTTPStatus  int    // 0 when no answer came
	Code        string // OAuth "error", e.g. "invalid_client"; "" when none
	Description string // OAuth "error_description"
	URI         string // OAuth "error_uri"
	Message     string
	// RetryAfter is the server's Retry-After, or -1 when it sent none.
	RetryAfter time.Duration

	closed bool // the call was made on a closed Client or TokenSource
}

func (e *Error) Error() string {
	return fmt.Sprintf("criteo: %s", e.Message)
}

// Is makes errors.Is(err, criteo.ErrUnauthorized) and the like work: two
// errors match when their statuses do. A timeout also matches
// context.DeadlineExceeded, and a call on a closed object ErrClosed.
func (e *Error) Is(target error) bool {
	switch target {
	case context.DeadlineExceeded:
		return e.Status == StatusTimeout
	case ErrClosed:
		return e.closed
	}
	t, ok := target.(*Error)
	return ok && t.Status == e.Status
}

// Timeout reports whether the call ran out of time, as net.Error does.
func (e *Error) Timeout() bool { return e.Status == StatusTimeout }

// ErrClosed matches the error of a call made on a closed Client or
// TokenSource (whose status is StatusInvalidArgument).
var ErrClosed = errors.New("criteo: closed")

func closedError(what string) error {
	return &Error{Status: StatusInvalidArgument, Message: "the " + what + " is closed", RetryAfter: -1, closed: true}
}

// invalidArgument is the error of an argument the binding refuses itself.
func invalidArgument(message string) *Error {
	return &Error{Status: StatusInvalidArgument, Message: message, RetryAfter: -1}
}

// Sentinels for errors.Is, one per status.
var (
	ErrInvalidArgument = &Error{Status: StatusInvalidArgument, Message: "invalid argument"}
	ErrTransport       = &Error{Status: StatusTransport, Message: "transport failure"}
	ErrTimeout         = &Error{Status: StatusTimeout, Message: "timed out"}
	ErrTLS             = &Error{Status: StatusTLS, Message: "TLS failure"}
	ErrInvalidResponse = &Error{Status: StatusInvalidResponse, Message: "invalid response"}
	ErrHTTPStatus      = &Error{Status: StatusHTTPStatus, Message: "HTTP status"}
	ErrInternal        = &Error{Status: StatusInternal, Message: "internal error"}
	ErrStore           = &Error{Status: StatusStore, Message: "store failure"}
	ErrBadRequest      = &Error{Status: StatusBadRequest, Message: "400 Bad Request"}
	ErrUnauthorized    = &Error{Status: StatusUnauthorized, Message: "401 Unauthorized"}
)
