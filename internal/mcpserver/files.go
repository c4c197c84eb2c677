package mcpserver

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"unicode/utf8"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/enclave-sandbox/enclave/internal/archive"
)

// Files go through the archive routes' backend calls (docs/api.md §3.11,
// §3.12), so they work in any image, with or without a tool.

type readIn struct {
	SandboxID string `json:"sandbox_id" jsonschema:"the sandbox"`
	Path      string `json:"path" jsonschema:"the file, absolute or relative to the sandbox's working directory"`
}

type fileOut struct {
	Path     string `json:"path"`
	Size     int64  `json:"size"`
	Encoding string `json:"encoding"` // utf-8 or base64
	Content  string `json:"content"`
}

func (s *session) readFile(ctx context.Context, _ *mcp.CallToolRequest, in readIn) (*mcp.CallToolResult, fileOut, error) {
	if err := s.own(in.SandboxID); err != nil {
		return nil, fileOut{}, err
	}
	if strings.TrimSpace(in.Path) == "" {
		return nil, fileOut{}, errors.New("path is required")
	}
	pr, pw := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		err := s.m.GetArchive(ctx, in.SandboxID, in.Path, pw)
		pw.CloseWithError(err)
		errc <- err
	}()
	out, err := firstFile(pr, in.Path, s.o.MaxFileBytes)
	if err == nil {
		io.Copy(io.Discard, pr) // the tar's end
	}
	pr.CloseWithError(errors.New("read done"))
	if aerr := <-errc; aerr != nil && err == nil {
		err = aerr
	}
	if err != nil {
		return nil, fileOut{}, fmt.Errorf("read %s: %w", in.Path, err)
	}
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: out.Content}}, StructuredContent: out}, out, nil
}

// firstFile reads the one regular file of a tar stream.
func firstFile(r io.Reader, name string, limit int64) (fileOut, error) {
	b, err := archive.FirstFile(r, limit)
	var big *archive.TooLargeError
	if errors.As(err, &big) {
		return fileOut{}, fmt.Errorf("%d bytes, more than the %d this tool reads (GET /sandbox/{id}/archive has no such limit)", big.Size, limit)
	}
	if err != nil {
		return fileOut{}, err
	}
	out := fileOut{Path: name, Size: int64(len(b)), Encoding: "utf-8", Content: string(b)}
	if !utf8.Valid(b) {
		out.Encoding, out.Content = "base64", base64.StdEncoding.EncodeToString(b)
	}
	return out, nil
}

type writeIn struct {
	SandboxID string `json:"sandbox_id" jsonschema:"the sandbox"`
	Path      string `json:"path" jsonschema:"the file, absolute or relative to the sandbox's working directory"`
	Content   string `json:"content" jsonschema:"the file's content"`
	Encoding  string `json:"encoding,omitempty" jsonschema:"utf-8 (default) or base64"`
}

type writeOut struct {
	Path  string `json:"path"`
	Bytes int    `json:"bytes"`
}

func (s *session) writeFile(ctx context.Context, _ *mcp.CallToolRequest, in writeIn) (*mcp.CallToolResult, writeOut, error) {
	if err := s.own(in.SandboxID); err != nil {
		return nil, writeOut{}, err
	}
	data := []byte(in.Content)
	switch in.Encoding {
	case "", "utf-8":
	case "base64":
		var err error
		if data, err = base64.StdEncoding.DecodeString(in.Content); err != nil {
			return nil, writeOut{}, errors.New("content is not base64")
		}
	default:
		return nil, writeOut{}, errors.New(`encoding must be "utf-8" or "base64"`)
	}
	if int64(len(data)) > s.o.MaxFileBytes {
		return nil, writeOut{}, fmt.Errorf("%d bytes, more than the %d this tool writes", len(data), s.o.MaxFileBytes)
	}
	dir, base := path.Split(path.Clean(in.Path))
	if strings.TrimSpace(in.Path) == "" || base == "" || base == "." || base == ".." || base == "/" {
		return nil, writeOut{}, errors.New("path must name a file")
	}
	if dir == "" {
		dir = "."
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: base, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg})
	tw.Write(data)
	tw.Close()
	if err := s.m.PutArchive(ctx, in.SandboxID, dir, &buf); err != nil {
		return nil, writeOut{}, fmt.Errorf("write %s: %w", in.Path, err)
	}
	return nil, writeOut{Path: in.Path, Bytes: len(data)}, nil
}
