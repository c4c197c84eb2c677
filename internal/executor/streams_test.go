package executor

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/enclave-sandbox/enclave/sdk/tool"
)

// TestStreamOrder: chunks reach the sink in order, a slow sink never
// blocks the pusher, and done returns only once all are delivered.
func TestStreamOrder(t *testing.T) {
	e := New(Options{})
	release := make(chan struct{})
	var mu sync.Mutex
	var got []string
	done := e.Stream("call1", func(stream string, data []byte) {
		<-release // a client that reads slowly
		mu.Lock()
		got = append(got, stream+":"+string(data))
		mu.Unlock()
	})
	push := e.sinkFor(tool.WithCallID(context.Background(), "call1"))
	if push == nil || e.sinkFor(context.Background()) != nil || e.sinkFor(tool.WithCallID(context.Background(), "other")) != nil {
		t.Fatal("sinks are found by the call id only")
	}
	var want []string
	for i := 0; i < 100; i++ {
		s := []string{"out", "err"}[i%2]
		push(s, []byte(fmt.Sprint(i))) // does not wait for the sink
		want = append(want, map[string]string{"out": "stdout", "err": "stderr"}[s]+":"+fmt.Sprint(i))
	}
	close(release)
	done()
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("delivered %v", got)
	}
	if e.sinkFor(tool.WithCallID(context.Background(), "call1")) != nil {
		t.Error("the sink stays registered after done")
	}
}
