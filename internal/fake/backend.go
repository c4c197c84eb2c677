// Package fake is an in-memory backend and an echo tool for unit tests of
// the manager, server and SDK. It is not a plugin and proves nothing about
// containers: integration and end-to-end tests use the Podman backend.
package fake

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/enclave-sandbox/enclave/sdk"
	"github.com/enclave-sandbox/enclave/sdk/backend"
)

// Backend keeps containers in a map. It has the rename (lazy, like
// Podman's), snapshot and pause capabilities (no sessions, no health
// probe), so tests see the one-shot exec path.
type Backend struct {
	mu         sync.Mutex
	seq        int
	containers map[string]*Container
	images     map[string]*image // snapshots by id
	// FailCreate makes Create fail with this error.
	FailCreate error
	// FailGetArchive makes GetArchive fail with this error.
	FailGetArchive error
	// ExecHook, when set, answers Exec.
	ExecHook func(ctx context.Context, c *Container, req sdk.ExecRequest) (sdk.ExecResult, error)
}

// Container is a fake container.
type Container struct {
	ID     string
	Spec   sdk.Spec
	Status string
	Files  map[string][]byte
}

// NewBackend returns an empty fake backend.
func NewBackend() *Backend {
	return &Backend{containers: map[string]*Container{}, images: map[string]*image{}}
}

// Containers returns a snapshot of the containers.
func (b *Backend) Containers() []Container {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []Container
	for _, c := range b.containers {
		out = append(out, *c)
	}
	return out
}

func (b *Backend) get(ref string) (*Container, error) {
	for _, c := range b.containers {
		if c.ID == ref || c.Spec.Name == ref {
			return c, nil
		}
	}
	return nil, fmt.Errorf("container %s: %w", ref, sdk.ErrSandboxNotFound)
}

func (c *Container) state() sdk.State {
	return sdk.State{ContainerID: c.ID, Name: c.Spec.Name, Status: c.Status, Labels: c.Spec.Labels, Image: c.Spec.Image}
}

// Info implements backend.Backend.
func (b *Backend) Info(context.Context) (sdk.Info, error) {
	return sdk.Info{Name: "fake", Kind: sdk.KindBackend, Version: "test", APIVersions: []uint32{sdk.APIVersion},
		SandboxTypes: sdk.ContainerTypes()}, nil
}

// Create implements backend.Backend.
func (b *Backend) Create(_ context.Context, s sdk.Spec, _ time.Duration) (sdk.State, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.FailCreate != nil {
		return sdk.State{}, b.FailCreate
	}
	for _, c := range b.containers {
		if c.Spec.Name == s.Name {
			return sdk.State{}, fmt.Errorf("name %s in use: %w", s.Name, sdk.ErrStartFailed)
		}
	}
	b.seq++
	c := &Container{ID: fmt.Sprintf("%064x", b.seq), Spec: s, Status: "running", Files: map[string][]byte{}}
	if img, ok := b.images[s.Image]; ok {
		for k, v := range img.files {
			c.Files[k] = v
		}
	}
	b.containers[c.ID] = c
	return c.state(), nil
}

// Inspect implements backend.Backend.
func (b *Backend) Inspect(_ context.Context, ref string) (sdk.State, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c, err := b.get(ref)
	if err != nil {
		return sdk.State{}, err
	}
	return c.state(), nil
}

// List implements backend.Backend.
func (b *Backend) List(_ context.Context, labels map[string]string) ([]sdk.State, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []sdk.State
	for _, c := range b.containers {
		if hasLabels(c.Spec.Labels, labels) {
			out = append(out, c.state())
		}
	}
	return out, nil
}

// hasLabels reports whether have carries every label of want.
func hasLabels(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// Stop implements backend.Backend.
func (b *Backend) Stop(_ context.Context, ref string, _ time.Duration) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	c, err := b.get(ref)
	if err != nil {
		return err
	}
	c.Status = "exited"
	return nil
}

// Remove implements backend.Backend.
func (b *Backend) Remove(_ context.Context, ref string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if c, err := b.get(ref); err == nil {
		delete(b.containers, c.ID)
	}
	return nil
}

// Exec implements backend.Backend: it echoes argv unless ExecHook is set.
func (b *Backend) Exec(ctx context.Context, ref string, req sdk.ExecRequest) (sdk.ExecResult, error) {
	b.mu.Lock()
	c, err := b.get(ref)
	hook := b.ExecHook
	b.mu.Unlock()
	if err != nil {
		return sdk.ExecResult{}, err
	}
	if hook != nil {
		return hook(ctx, c, req)
	}
	return sdk.ExecResult{Stdout: []byte(strings.Join(req.Argv, " "))}, nil
}

// PutArchive implements backend.Backend: it stores the raw tar under dir.
func (b *Backend) PutArchive(_ context.Context, ref, dir string, r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	c, err := b.get(ref)
	if err != nil {
		return err
	}
	c.Files[dir] = data
	return nil
}

// GetArchive implements backend.Backend: it returns what PutArchive stored.
func (b *Backend) GetArchive(_ context.Context, ref, p string, w io.Writer) error {
	b.mu.Lock()
	c, err := b.get(ref)
	var data []byte
	var ok bool
	if err == nil {
		data, ok = c.Files[p]
		if b.FailGetArchive != nil {
			err = b.FailGetArchive
		}
	}
	b.mu.Unlock()
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%s: %w", p, sdk.ErrPathNotFound)
	}
	_, err = io.Copy(w, bytes.NewReader(data))
	return err
}

// SetStatus changes a container's status (for tests of re-adoption).
func (b *Backend) SetStatus(id, status string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if c, ok := b.containers[id]; ok {
		c.Status = status
	}
}

// RenamesLazily implements backend.LazyRenamer.
func (b *Backend) RenamesLazily() {}

// Rename implements backend.Renamer.
func (b *Backend) Rename(_ context.Context, ref, name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	c, err := b.get(ref)
	if err != nil {
		return err
	}
	c.Spec.Name = name
	return nil
}

var (
	_ backend.Backend = (*Backend)(nil)
	_ backend.Renamer = (*Backend)(nil)
)
