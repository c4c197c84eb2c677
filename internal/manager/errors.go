package manager

import "fmt"

// ErrorKind classifies manager errors; the HTTP layer maps kinds to statuses.
type ErrorKind int

// Error kinds.
const (
	KindInternal ErrorKind = iota
	KindNotFound
	KindNotActive
	KindToolUnavailable
	KindInvalidParams
	KindCreateFailed
	KindNotStarted
	KindStopFailed
	KindDeleteFailed
	KindBadRequest
	KindPathNotFound
	KindArchiveFailed
	KindPoolEmpty
	KindPoolTimeout
	// Background processes and terminals (processes.go).
	KindProcessNotFound
	KindConflict
	KindUnavailable
	// KindUnsupported: the sandbox's backend lacks the capability
	// (snapshots, pause).
	KindUnsupported
)

// Error is a manager error with the detail text clients see.
type Error struct {
	Kind ErrorKind
	Msg  string
	Err  error
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Err }

func errorf(kind ErrorKind, format string, args ...any) *Error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}
