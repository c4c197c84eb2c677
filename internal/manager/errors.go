package manager

import "fmt"

// Kind classifies manager errors; the HTTP layer maps kinds to statuses.
type Kind int

// Error kinds.
const (
	KindInternal Kind = iota
	KindNotFound
	KindNotActive
	KindToolUnavailable
	KindInvalidParams
	KindCreateFailed
	KindNotStarted
	KindStopFailed
	KindDeleteFailed
	KindBadRequest
	KindUnsupported
	KindPathNotFound
	KindArchiveFailed
	KindPoolEmpty
	KindPoolTimeout
)

// Error is a manager error with the detail text clients see.
type Error struct {
	Kind Kind
	Msg  string
	Err  error
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Err }

func errorf(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}
