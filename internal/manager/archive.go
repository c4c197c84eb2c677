package manager

// Copying files in and out of a sandbox.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/enclave-sandbox/enclave/internal/archive"
	"github.com/enclave-sandbox/enclave/sdk"
)

// resolvePath resolves a relative path against the sandbox's working dir.
func resolvePath(sb *sandbox, p string) string {
	if path.IsAbs(p) {
		return p
	}
	return path.Join(sb.cfg.WorkingDir, p)
}

// PutArchive extracts a tar into target_dir.
func (m *Manager) PutArchive(ctx context.Context, id, targetDir string, r io.Reader) error {
	sb, release, err := m.activeSandbox(id, KindBadRequest)
	if err != nil {
		return err
	}
	defer release()
	dir := resolvePath(sb, targetDir)
	res, err := m.exec.Exec(ctx, id, sdk.ExecRequest{Argv: []string{"mkdir", "-p", "--", dir}, Timeout: time.Minute})
	if err == nil && res.ExitCode != 0 {
		err = errors.New(strings.TrimSpace(string(res.Stderr)))
	}
	if err != nil {
		return &Error{Kind: KindArchiveFailed, Msg: fmt.Sprintf("Failed to create target directory %s: %v", targetDir, err), Err: err}
	}
	// The upload is checked as it streams: a malformed one is the
	// client's mistake (400), whatever the runtime made of it.
	checked := archive.Check(r)
	err = m.exec.PutArchive(ctx, id, dir, checked)
	if bad := checked.Err(); bad != nil {
		return &Error{Kind: KindBadRequest, Msg: "Failed to extract archive: " + bad.Error(), Err: bad}
	}
	if err != nil {
		return &Error{Kind: KindArchiveFailed, Msg: "Failed to extract archive: " + err.Error(), Err: err}
	}
	return nil
}

// GetArchive writes a tar of path to w.
func (m *Manager) GetArchive(ctx context.Context, id, p string, w io.Writer) error {
	sb, release, err := m.activeSandbox(id, KindBadRequest)
	if err != nil {
		return err
	}
	defer release()
	if err := m.exec.GetArchive(ctx, id, resolvePath(sb, p), w); err != nil {
		if errors.Is(err, sdk.ErrPathNotFound) {
			return errorf(KindPathNotFound, "Path %s not found", p)
		}
		return &Error{Kind: KindArchiveFailed, Msg: "Failed to read archive: " + err.Error(), Err: err}
	}
	return nil
}
