package server

import (
	"net/http"

	"github.com/enclave-sandbox/enclave/internal/webui"
)

// page serves one of the browser pages (internal/webui). Pages and assets
// are public: they hold no data, and ask for the key before they fetch any
// (the document, sandboxes, metrics).
func (s *Server) page(name string) apiFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		b, err := webui.Page(name)
		if err != nil {
			return errStatus(http.StatusNotFound, "Not Found")
		}
		pageHeaders(w)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(b)
		return nil
	}
}

func (s *Server) asset(w http.ResponseWriter, r *http.Request) error {
	p := r.PathValue("path")
	if !webui.Exists(p) {
		return errStatus(http.StatusNotFound, "Not Found")
	}
	pageHeaders(w)
	r.URL.Path = "/" + p
	webui.FileServer.ServeHTTP(w, r)
	return nil
}

func pageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", webui.ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
}

// mcp hands the request to the MCP endpoint; it writes JSON-RPC (and its
// transport's own errors) itself.
func (s *Server) mcp(w http.ResponseWriter, r *http.Request) error {
	s.opts.MCP.ServeHTTP(w, r)
	return nil
}

func mcpDoc(method string) op {
	d := op{tag: tagEnclave, okMedia: "application/json", stream: method != "DELETE", mcp: true,
		errs: []int{http.StatusBadRequest, http.StatusForbidden, http.StatusNotFound, http.StatusMethodNotAllowed,
			http.StatusNotAcceptable, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType}}
	switch method {
	case "POST":
		d.summary = "MCP (streamable HTTP): send a JSON-RPC message"
		d.bodyMedia, d.bodyRequired = "application/json", true
	case "GET":
		d.summary = "MCP (streamable HTTP): the session's server-to-client event stream"
	case "DELETE":
		d.summary = "MCP (streamable HTTP): end the session (its sandboxes are deleted)"
	}
	return d
}
