//go:build remote

package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/containers/podman/v4/pkg/copy"

	"github.com/containers/podman/v4/pkg/bindings/containers"

	"github.com/enclave-sandbox/enclave/sdk"
)

// PutArchive implements backend.Backend.
func (p *Podman) PutArchive(ctx context.Context, ref, dir string, r io.Reader) error {
	ctx, err := p.withConn(ctx)
	if err != nil {
		return err
	}
	copyFn, err := containers.CopyFromArchive(ctx, ref, dir, r)
	if err != nil {
		return mapErr(err, "copy into container")
	}
	return mapErr(copyFn(), "copy into container")
}

// GetArchive implements backend.Backend.
func (p *Podman) GetArchive(ctx context.Context, ref, path string, w io.Writer) error {
	ctx, err := p.withConn(ctx)
	if err != nil {
		return err
	}
	if _, err := containers.Stat(ctx, ref, path); err != nil {
		// Stat answers 404 for a missing path and for a missing container.
		if errors.Is(err, copy.ErrENOENT) {
			if _, ierr := containers.Inspect(ctx, ref, nil); ierr != nil {
				return mapErr(ierr, "inspect container")
			}
			return fmt.Errorf("%s: %w", path, sdk.ErrPathNotFound)
		}
		return fmt.Errorf("stat %s: %w", path, err)
	}
	copyFn, err := containers.CopyToArchive(ctx, ref, path, w)
	if err != nil {
		return mapErr(err, "copy from container")
	}
	return mapErr(copyFn(), "copy from container")
}
