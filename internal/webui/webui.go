// Package webui holds the pages enclave serves to browsers: /docs (Swagger
// UI), /redoc (Redoc) and /ui (the operator console), with the pinned
// renderer releases that make web copies into assets/vendor.
package webui

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed all:assets
var embedded embed.FS

// Assets is the tree served under /assets/.
var Assets, _ = fs.Sub(embedded, "assets")

// Page is the HTML of a page (docs, redoc, console).
func Page(name string) ([]byte, error) {
	return fs.ReadFile(Assets, name+".html")
}

// Exists reports whether an asset path (below /assets/) is a file. Only a
// canonical path is: one that needs cleaning ("x/../console.js",
// "\x00/../console.js") names what it does not spell.
func Exists(p string) bool {
	if !fs.ValidPath(p) {
		return false
	}
	st, err := fs.Stat(Assets, p)
	return err == nil && !st.IsDir() && !strings.HasPrefix(path.Base(p), ".")
}

// ContentSecurityPolicy is sent with every page and asset: nothing but
// this server (the pages fetch no CDN), inline styles for the renderers,
// and blob workers for Redoc.
const ContentSecurityPolicy = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
	"font-src 'self' data:; connect-src 'self' ws: wss:; worker-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'"

// FileServer serves Assets.
var FileServer = http.FileServerFS(Assets)
