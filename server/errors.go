package server

import (
	"errors"
	"net/http"

	"github.com/enclave-sandbox/enclave/internal/manager"
)

// httpError is an error with the status and detail the contract gives.
type httpError struct {
	status int
	detail any // string, or []validationError for 422 lists
}

func (e *httpError) Error() string {
	if s, ok := e.detail.(string); ok {
		return s
	}
	return http.StatusText(e.status)
}

func errStatus(status int, detail string) *httpError {
	return &httpError{status: status, detail: detail}
}

// statusOf maps manager error kinds to HTTP statuses: the one place where
// that mapping lives. Route-specific exceptions (archive's not-active is 400,
// pool's missing tool is 400) are expressed as different kinds by the caller.
var statusOf = map[manager.ErrorKind]int{
	manager.KindInternal:        http.StatusInternalServerError,
	manager.KindNotFound:        http.StatusNotFound,
	manager.KindNotActive:       http.StatusNotFound,
	manager.KindToolUnavailable: http.StatusNotFound,
	manager.KindInvalidParams:   http.StatusUnprocessableEntity,
	manager.KindCreateFailed:    http.StatusBadRequest,
	manager.KindNotStarted:      http.StatusInternalServerError,
	manager.KindStopFailed:      http.StatusNotFound, // kept from ms-enclave
	manager.KindDeleteFailed:    http.StatusNotFound, // kept from ms-enclave
	manager.KindBadRequest:      http.StatusBadRequest,
	manager.KindPathNotFound:    http.StatusNotFound,
	manager.KindArchiveFailed:   http.StatusInternalServerError,
	manager.KindPoolEmpty:       http.StatusBadRequest,
	manager.KindPoolTimeout:     http.StatusRequestTimeout,
	manager.KindProcessNotFound: http.StatusNotFound,
	manager.KindConflict:        http.StatusConflict,
	manager.KindUnavailable:     http.StatusServiceUnavailable,
	manager.KindUnsupported:     http.StatusNotImplemented,
}

// toHTTP converts any handler error to status and detail.
func toHTTP(err error) (int, any) {
	var he *httpError
	if errors.As(err, &he) {
		return he.status, he.detail
	}
	var me *manager.Error
	if errors.As(err, &me) {
		if s, ok := statusOf[me.Kind]; ok {
			return s, me.Msg
		}
	}
	return http.StatusInternalServerError, "Internal Server Error"
}
