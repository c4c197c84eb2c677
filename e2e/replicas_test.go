package e2e

// Several replicas, one cluster (docs/api.md §7.4): two enclave servers
// with one --instance serve the same sandboxes, each with its own pool.

import (
	"context"
	"slices"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/enclave-sandbox/enclave/client"
)

// replicaPair starts two replicas, a and b, of one fresh instance.
func replicaPair(t *testing.T) (a, b *server, setup func(replica string) serverSetup) {
	t.Helper()
	requireKube(t)
	binDir, podmanURL := requireEnv(t)
	inst := "e2e-" + randHex(4)
	setup = func(replica string) serverSetup {
		return serverSetup{binDir: binDir, podmanURL: podmanURL, instance: inst, replica: replica}
	}
	t.Cleanup(func() {
		// Registered before the servers start, so it runs after they stopped.
		if left := kubePods(t, inst); len(left) > 0 {
			t.Errorf("pods left behind by instance %s: %v", inst, left)
		}
	})
	a = startServerAs(t, setup("a"), "")
	b = startServerAs(t, setup("b"), "")
	return a, b, setup
}

// ids lists the sandbox ids a server knows, sorted.
func ids(t *testing.T, s *server) []string {
	t.Helper()
	list, err := s.C.ListSandboxes(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, sb := range list {
		out = append(out, sb.ID)
	}
	sort.Strings(out)
	return out
}

// within polls cond for at most d.
func within(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestKubeReplicas(t *testing.T) {
	a, b, _ := replicaPair(t)
	ctx := context.Background()
	id := a.sandbox(t, nil)
	if !within(time.Second, func() bool { return slices.Equal(ids(t, a), ids(t, b)) }) {
		t.Fatalf("within a second of the create: a lists %v, b %v", ids(t, a), ids(t, b))
	}
	if r := b.exec(t, id, "python_executor", map[string]any{"code": "open('/tmp/via', 'w').write('b'); print(40 + 2)"}); r.Output != "42\n" {
		t.Errorf("call through b: %+v %s", r, errText(r))
	}
	if r := a.exec(t, id, "shell_executor", map[string]any{"command": "cat /tmp/via"}); r.Output != "b" {
		t.Errorf("a sees b's file: %+v %s", r, errText(r))
	}
	if err := b.C.StopSandbox(ctx, id); err != nil {
		t.Fatal(err)
	}
	if !within(time.Second, func() bool { in, err := a.C.GetSandbox(ctx, id); return err == nil && in.Status == "stopped" }) {
		in, err := a.C.GetSandbox(ctx, id)
		t.Errorf("a after b's stop: %+v %v", in, err)
	}
	if err := b.C.DeleteSandbox(ctx, id); err != nil {
		t.Fatal(err)
	}
	if !within(time.Second, func() bool { _, err := a.C.GetSandbox(ctx, id); return err != nil }) {
		t.Errorf("a still lists %s a second after b deleted it", id)
	}

	// Each keeps its own pool; its members carry their owner.
	pa, err := a.C.InitializePool(ctx, 2, "docker", poolTools)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := b.C.InitializePool(ctx, 2, "docker", poolTools)
	if err != nil {
		t.Fatal(err)
	}
	pods, err := kubeClient(t).CoreV1().Pods(kubeNamespace).List(ctx, metav1.ListOptions{LabelSelector: "enclave.instance=" + a.Instance + ",enclave.pool=true"})
	if err != nil {
		t.Fatal(err)
	}
	owners := map[string]string{}
	for _, p := range pods.Items {
		owners[p.Labels["enclave.id"]] = p.Labels["enclave.owner"]
	}
	for _, x := range pa.SandboxIDs {
		if owners[x] != "a" {
			t.Errorf("a's pool member %s carries owner %q", x, owners[x])
		}
	}
	for _, x := range pb.SandboxIDs {
		if owners[x] != "b" {
			t.Errorf("b's pool member %s carries owner %q", x, owners[x])
		}
	}
	for _, s := range []*server{a, b} {
		if r, err := s.C.ExecuteInPool(ctx, "python_executor", map[string]any{"code": "print('pooled')"}, 30); err != nil || r.Output != "pooled\n" {
			t.Errorf("pool call: %+v %v", r, err)
		}
	}
	if !within(time.Second, func() bool { return slices.Equal(ids(t, a), ids(t, b)) && len(ids(t, a)) == 4 }) {
		t.Errorf("pools listed: a %v, b %v; want the same 4 sandboxes", ids(t, a), ids(t, b))
	}
}

// TestKubeReplicaKilled: kill -9 of a replica while the other serves its
// sandboxes loses nothing; the replica that comes back under its name
// lends its pool again.
func TestKubeReplicaKilled(t *testing.T) {
	a, b, setup := replicaPair(t)
	ctx := context.Background()
	plain := a.sandbox(t, nil)
	pool, err := a.C.InitializePool(ctx, 2, "docker", poolTools)
	if err != nil {
		t.Fatal(err)
	}
	if !within(time.Second, func() bool { return len(ids(t, b)) == 3 }) {
		t.Fatalf("b lists %v, want a's 3 sandboxes", ids(t, b))
	}
	var mu sync.Mutex
	var problems []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := client.New(b.URL, "")
			for {
				select {
				case <-stop:
					return
				default:
				}
				r, err := c.ExecuteTool(ctx, plain, "python_executor", map[string]any{"code": "print(7 * 6)"})
				if err != nil || r.Output != "42\n" {
					mu.Lock()
					problems = append(problems, "call through b: "+mustJSON(r)+" "+errString(err))
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	syscall.Kill(-a.cmd.Process.Pid, syscall.SIGKILL)
	a.cmd.Wait()
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
	if len(problems) > 0 {
		t.Errorf("%d calls through b failed while a was killed; first: %s", len(problems), problems[0])
	}
	a2 := startServerAs(t, setup("a"), "")
	for _, id := range append([]string{plain}, pool.SandboxIDs...) {
		if _, err := a2.C.GetSandbox(ctx, id); err != nil {
			t.Errorf("sandbox %s lost across kill -9 of its replica: %v", id, err)
		}
	}
	if r, err := a2.C.ExecuteInPool(ctx, "python_executor", map[string]any{"code": "print('back')"}, 30); err != nil || r.Output != "back\n" {
		t.Errorf("a's pool after its restart: %+v %v", r, err)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
