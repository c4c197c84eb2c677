package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/enclave-sandbox/enclave/internal/apicheck"
)

// api checks every request the suite sends to an enclave server, and every
// answer, against that server's GET /openapi.json (internal/apicheck).
var api = apicheck.New(nil)

func TestMain(m *testing.M) {
	http.DefaultTransport = api
	code := m.Run()
	fmt.Printf("openapi: %d exchanges checked against the servers' own documents\n", api.Checked())
	os.Exit(code)
}

// checkAPI validates the traffic to baseURL from now on, and fails t at
// its end for each exchange off the document.
func checkAPI(t *testing.T, baseURL, apiKey string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := api.Register(ctx, baseURL, apiKey); err != nil {
		t.Fatalf("openapi: %v", err)
	}
}

func reportAPI(t *testing.T, baseURL string) {
	for _, f := range api.Failures(baseURL) {
		t.Errorf("openapi: %s", f)
	}
}
