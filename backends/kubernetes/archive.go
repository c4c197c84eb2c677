package main

// Archives through exec of tar in the sandbox, as kubectl cp does: the
// image needs a tar (every Debian, Alpine and busybox image has one).

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/enclave-sandbox/enclave/internal/execwrap"
	"github.com/enclave-sandbox/enclave/sdk"
)

// exitNoPath is what the archive scripts exit with when the path is absent.
const exitNoPath = 44

const putScript = `[ -d "$1" ] || { echo "no such directory: $1" >&2; exit 44; }; command -v tar >/dev/null || { echo "the image has no tar" >&2; exit 45; }; exec tar -x -f - -C "$1"`

const getScript = `[ -e "$1" ] || [ -L "$1" ] || exit 44; command -v tar >/dev/null || { echo "the image has no tar" >&2; exit 45; }; d=$(dirname -- "$1"); b=$(basename -- "$1"); cd -- "$d" && exec tar -c -f - -- "$b"`

// PutArchive implements backend.Backend.
func (k *Kubernetes) PutArchive(ctx context.Context, ref, dir string, r io.Reader) error {
	if err := k.connect(ctx); err != nil {
		return err
	}
	errOut := execwrap.NewCapped(64 << 10)
	code, err := k.stream(ctx, ref, []string{"sh", "-c", putScript, "enclave-put", dir}, r, io.Discard, errOut)
	return archiveErr(code, err, dir, errOut.Bytes(), "copy into pod")
}

// GetArchive implements backend.Backend.
func (k *Kubernetes) GetArchive(ctx context.Context, ref, path string, w io.Writer) error {
	if err := k.connect(ctx); err != nil {
		return err
	}
	errOut := execwrap.NewCapped(64 << 10)
	code, err := k.stream(ctx, ref, []string{"sh", "-c", getScript, "enclave-get", path}, nil, w, errOut)
	return archiveErr(code, err, path, errOut.Bytes(), "copy from pod")
}

func archiveErr(code int, err error, path string, stderr []byte, what string) error {
	switch {
	case err != nil:
		return err
	case code == exitNoPath:
		return fmt.Errorf("%s: %w", path, sdk.ErrPathNotFound)
	case code != 0:
		return fmt.Errorf("%s: tar exited %d: %s", what, code, strings.TrimSpace(string(bytes.ToValidUTF8(stderr, nil))))
	}
	return nil
}
