package sdk

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Typed errors that cross the plugin boundary. Wrap them with %w; the shims
// carry them over gRPC as a status code plus an ErrorInfo reason, so
// errors.Is works on the other side.
var (
	ErrSandboxNotFound = errors.New("sandbox not found")
	ErrPathNotFound    = errors.New("path not found")
	ErrImageNotFound   = errors.New("image not found")
	ErrStartFailed     = errors.New("sandbox failed to start")
	ErrInvalidArgument = errors.New("invalid argument")
	ErrUnsupported     = errors.New("not supported")
	ErrUnavailable     = errors.New("unavailable")
)

const errDomain = "enclave.plugin.v1"

var reasons = []struct {
	err    error
	reason string
	code   codes.Code
}{
	{ErrSandboxNotFound, "SANDBOX_NOT_FOUND", codes.NotFound},
	{ErrPathNotFound, "PATH_NOT_FOUND", codes.NotFound},
	{ErrImageNotFound, "IMAGE_NOT_FOUND", codes.NotFound},
	{ErrStartFailed, "START_FAILED", codes.FailedPrecondition},
	{ErrInvalidArgument, "INVALID_ARGUMENT", codes.InvalidArgument},
	{ErrUnsupported, "UNSUPPORTED", codes.Unimplemented},
	{ErrUnavailable, "UNAVAILABLE", codes.Unavailable},
}

// remoteError keeps the remote message and the sentinel it matched.
type remoteError struct {
	msg      string
	sentinel error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.sentinel }

// ToStatus converts an error to a gRPC status error (server side of a shim).
func ToStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok && !isSentinelWrapped(err) {
		return err
	}
	switch {
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			st := status.New(r.code, err.Error())
			if d, derr := st.WithDetails(&errdetails.ErrorInfo{Reason: r.reason, Domain: errDomain}); derr == nil {
				st = d
			}
			return st.Err()
		}
	}
	return status.Error(codes.Unknown, err.Error())
}

func isSentinelWrapped(err error) bool {
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return true
		}
	}
	return false
}

// ErrNotDelivered marks a call that never reached the plugin (its process
// was gone when the connection was dialled): safe to send again, whatever
// the call does.
var ErrNotDelivered = errors.New("call never reached the plugin")

// notDelivered reads gRPC's connection-level failure texts: the transport
// could not connect, so no request left.
func notDelivered(msg string) bool {
	for _, s := range []string{"connection refused", "Error while dialing", "error while dialing", "no such file or directory"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// connClosing reads gRPC's text for a call on (or cut by) a closed
// ClientConn, which it reports as Canceled.
func connClosing(msg string) bool {
	return strings.Contains(msg, "the client connection is closing")
}

// FromStatus converts a gRPC status error back to a typed error (client side).
func FromStatus(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	for _, d := range st.Details() {
		info, ok := d.(*errdetails.ErrorInfo)
		if !ok || info.Domain != errDomain {
			continue
		}
		for _, r := range reasons {
			if r.reason == info.Reason {
				return &remoteError{msg: st.Message(), sentinel: r.err}
			}
		}
	}
	switch st.Code() {
	case codes.Canceled:
		if connClosing(st.Message()) {
			// The host closed its connection to a plugin that died (the
			// caller did not cancel): the plugin is unavailable, and an
			// idempotent call may go to its restarted process.
			return &remoteError{msg: "plugin unavailable: " + st.Message(), sentinel: ErrUnavailable}
		}
		return fmt.Errorf("%s: %w", st.Message(), context.Canceled)
	case codes.DeadlineExceeded:
		return fmt.Errorf("%s: %w", st.Message(), context.DeadlineExceeded)
	case codes.Unavailable:
		err := error(&remoteError{msg: "plugin unavailable: " + st.Message(), sentinel: ErrUnavailable})
		if notDelivered(st.Message()) {
			err = fmt.Errorf("%w: %w", err, ErrNotDelivered)
		}
		return err
	}
	return errors.New(st.Message())
}
