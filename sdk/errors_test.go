package sdk

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestFromStatus(t *testing.T) {
	tests := []struct {
		name        string
		err         error
		want        []error
		notWant     []error
		wantMessage string
	}{
		{"typed error round trip", ToStatus(fmt.Errorf("box 1: %w", ErrSandboxNotFound)), []error{ErrSandboxNotFound}, []error{ErrUnavailable}, "box 1: sandbox not found"},
		{"caller cancelled", status.Error(codes.Canceled, "context canceled"), []error{context.Canceled}, []error{ErrUnavailable}, ""},
		{"connection closed under the call", status.Error(codes.Canceled, "grpc: the client connection is closing"), []error{ErrUnavailable}, []error{context.Canceled, ErrNotDelivered}, ""},
		{"plugin gone before dialling", status.Error(codes.Unavailable, "connection error: desc = \"transport: Error while dialing: dial unix /tmp/plugin1: connect: connection refused\""), []error{ErrUnavailable, ErrNotDelivered}, nil, ""},
		{"transport broke mid-call", status.Error(codes.Unavailable, "error reading from server: EOF"), []error{ErrUnavailable}, []error{ErrNotDelivered}, ""},
		{"deadline", status.Error(codes.DeadlineExceeded, "context deadline exceeded"), []error{context.DeadlineExceeded}, []error{ErrUnavailable}, ""},
		{"not a status", errors.New("plain"), nil, []error{ErrUnavailable}, "plain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := FromStatus(tt.err)
			for _, w := range tt.want {
				if !errors.Is(got, w) {
					t.Errorf("FromStatus(%v) = %v, not %v", tt.err, got, w)
				}
			}
			for _, w := range tt.notWant {
				if errors.Is(got, w) {
					t.Errorf("FromStatus(%v) = %v, is %v", tt.err, got, w)
				}
			}
			if tt.wantMessage != "" && got.Error() != tt.wantMessage {
				t.Errorf("message %q, want %q", got.Error(), tt.wantMessage)
			}
		})
	}
}
