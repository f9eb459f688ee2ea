package criteo

// Status is the library's status code; the numbers never change.
type Status uint32

// The status codes of libcriteo_oauth (see criteo_oauth.h).
const (
	StatusOK              Status = 0
	StatusInvalidArgument Status = 1
	StatusTransport       Status = 2
	StatusTimeout         Status = 3
	StatusTLS             Status = 4
	StatusInvalidResponse Status = 5
	StatusHTTPStatus      Status = 6
	StatusInternal        Status = 7
	StatusStore           Status = 8 // see TokenSource.StoreError
	StatusBadRequest      Status = 400
	StatusUnauthorized    Status = 401
)

// String gives the C name of the status, e.g. "CRITEO_ERR_TIMEOUT".
func (s Status) String() string {
	return statusName(s)
}
