// Package apicheck checks HTTP traffic against a server's own OpenAPI
// document: a RoundTripper that validates every request sent to a
// registered server and every answer it gives. Tests install it as
// http.DefaultTransport, so a route that answers off its documented schema
// fails the test that called it.
//
// The rules: a request the document accepts must get a documented status
// and a body of that status's schema; a request it rejects must get a 4xx
// (the server may not accept what its document says is invalid, nor fail
// on it); a request to no documented route must get a JSON 401, 404 or 405.
package apicheck

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// maxChecked is the largest body read for validation; larger ones pass
// through unread (their status and headers are still checked).
const maxChecked = 4 << 20

// Checker validates traffic to registered servers; other traffic passes
// through untouched.
type Checker struct {
	base http.RoundTripper

	mu       sync.Mutex
	servers  map[string]routers.Router // by scheme://host
	failures map[string][]string       // by scheme://host
	checked  int
}

// New wraps base (nil: a clone of http.DefaultTransport).
func New(base http.RoundTripper) *Checker {
	if base == nil {
		base = http.DefaultTransport.(*http.Transport).Clone()
	}
	return &Checker{base: base, servers: map[string]routers.Router{}, failures: map[string][]string{}}
}

// Register fetches baseURL's /openapi.json (with apiKey, if any), checks
// that it is a valid OpenAPI document, and validates traffic to baseURL
// from now on.
func (c *Checker) Register(ctx context.Context, baseURL, apiKey string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(baseURL, "/")+"/openapi.json", nil)
	if err != nil {
		return err
	}
	if apiKey != "" {
		req.Header.Set("X-API-Key", apiKey)
	}
	resp, err := c.base.RoundTrip(req)
	if err != nil {
		return fmt.Errorf("fetch openapi.json: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetch openapi.json: %d %s %v", resp.StatusCode, b, err)
	}
	doc, err := Load(ctx, b)
	if err != nil {
		return err
	}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		return fmt.Errorf("openapi router: %w", err)
	}
	c.mu.Lock()
	c.servers[hostKey(baseURL)] = router
	c.mu.Unlock()
	return nil
}

// hostKey is scheme://host of a URL.
func hostKey(u string) string {
	r, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return u
	}
	return r.URL.Scheme + "://" + r.URL.Host
}

// Alias validates traffic to alias against the document registered for
// baseURL (a port-forward to the same server, say).
func (c *Checker) Alias(alias, baseURL string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r := c.servers[hostKey(baseURL)]; r != nil {
		c.servers[hostKey(alias)] = r
	}
}

// Load parses and validates an OpenAPI document.
func Load(ctx context.Context, b []byte) (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(b)
	if err != nil {
		return nil, fmt.Errorf("load openapi.json: %w", err)
	}
	if err := doc.Validate(ctx); err != nil {
		return nil, fmt.Errorf("openapi.json is not a valid document: %w", err)
	}
	return doc, nil
}

// Failures returns what failed so far in the traffic to baseURL and
// forgets it.
func (c *Checker) Failures(baseURL string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := hostKey(baseURL)
	f := c.failures[k]
	delete(c.failures, k)
	return f
}

// Checked is how many exchanges were validated.
func (c *Checker) Checked() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.checked
}

func (c *Checker) fail(req *http.Request, format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := req.URL.Scheme + "://" + req.URL.Host
	c.failures[k] = append(c.failures[k], req.Method+" "+req.URL.RequestURI()+": "+fmt.Sprintf(format, args...))
}

// RoundTrip sends req and validates the exchange when req goes to a
// registered server.
func (c *Checker) RoundTrip(req *http.Request) (*http.Response, error) {
	c.mu.Lock()
	router := c.servers[req.URL.Scheme+"://"+req.URL.Host]
	c.mu.Unlock()
	if router == nil || req.Header.Get("Upgrade") != "" {
		return c.base.RoundTrip(req)
	}
	body, whole, err := peekBody(req)
	if err != nil {
		return nil, err
	}
	route, pathParams, routeErr := router.FindRoute(req)
	var input *openapi3filter.RequestValidationInput
	var reqErr error
	if routeErr == nil {
		// The server reads a body without a Content-Type as JSON (docs/api.md §1.1).
		check := req.Clone(req.Context())
		if len(body) > 0 && check.Header.Get("Content-Type") == "" {
			check.Header.Set("Content-Type", "application/json")
		}
		check.Body = io.NopCloser(bytes.NewReader(body))
		input = &openapi3filter.RequestValidationInput{Request: check, PathParams: pathParams, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, ExcludeRequestBody: !whole}}
		reqErr = openapi3filter.ValidateRequest(req.Context(), input)
	}
	resp, err := c.base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	c.mu.Lock()
	c.checked++
	c.mu.Unlock()
	if routeErr != nil {
		c.unrouted(req, resp)
		return resp, nil
	}
	if reqErr != nil && (resp.StatusCode < 400 || resp.StatusCode >= 500) {
		c.fail(req, "the document rejects this request (%v) but the server answered %d", firstLine(reqErr), resp.StatusCode)
	}
	c.response(req, input, resp)
	return resp, nil
}

// peekBody reads up to maxChecked of req's body and puts it back; whole
// says it was all of it.
func peekBody(req *http.Request) ([]byte, bool, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, true, nil
	}
	b, err := io.ReadAll(io.LimitReader(req.Body, maxChecked+1))
	if err != nil {
		return nil, false, err
	}
	if len(b) <= maxChecked {
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(b))
		return b, !streamedMedia(req.Header.Get("Content-Type")), nil
	}
	req.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(b), req.Body), req.Body}
	return nil, false, nil
}

// streamedMedia are the bodies not validated (tar archives, event streams).
func streamedMedia(ct string) bool {
	mt, _, _ := mime.ParseMediaType(ct)
	return mt == "application/x-tar" || mt == "text/event-stream" || mt == "application/octet-stream"
}

func (c *Checker) response(req *http.Request, input *openapi3filter.RequestValidationInput, resp *http.Response) {
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: input, Status: resp.StatusCode, Header: resp.Header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true}}
	if resp.StatusCode == http.StatusSwitchingProtocols || streamedMedia(resp.Header.Get("Content-Type")) || req.Method == http.MethodHead {
		out.Options.ExcludeResponseBody = true
	} else {
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxChecked+1))
		if err != nil || len(b) > maxChecked {
			// Too big or cut: hand the caller what there is and the rest.
			resp.Body = struct {
				io.Reader
				io.Closer
			}{io.MultiReader(bytes.NewReader(b), resp.Body), resp.Body}
			out.Options.ExcludeResponseBody = true
		} else {
			resp.Body.Close()
			resp.Body = io.NopCloser(bytes.NewReader(b))
			out.SetBodyBytes(b)
		}
	}
	if err := openapi3filter.ValidateResponse(req.Context(), out); err != nil {
		c.fail(req, "answer %d off the document: %v", resp.StatusCode, firstLine(err))
	}
}

// unrouted checks the answer to a request that matches no documented
// route: JSON 401 (no key), 404 or 405.
func (c *Checker) unrouted(req *http.Request, resp *http.Response) {
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusNotFound, http.StatusMethodNotAllowed:
	default:
		c.fail(req, "no documented route, but the server answered %d", resp.StatusCode)
		return
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxChecked))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	var e struct {
		Detail json.RawMessage `json:"detail"`
	}
	if req.Method != http.MethodHead && (json.Unmarshal(b, &e) != nil || len(e.Detail) == 0) {
		c.fail(req, "answer %d is not a JSON error: %q", resp.StatusCode, b)
	}
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}
