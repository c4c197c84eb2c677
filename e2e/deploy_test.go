package e2e

// deploy/kubernetes applied to the test cluster, with enclave running in
// it, reached through kubectl port-forward, answering the curl example.

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/enclave-sandbox/enclave/client"
)

func kubectl(t *testing.T, args ...string) string {
	t.Helper()
	bin := os.Getenv("ENCLAVE_KUBECTL")
	if bin == "" {
		t.Fatal("ENCLAVE_KUBECTL names no kubectl (make test-k8s sets it)")
	}
	cmd := exec.Command(bin, append([]string{"--kubeconfig", os.Getenv("ENCLAVE_K8S_KUBECONFIG")}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestKubeDeployment(t *testing.T) {
	cs := requireKube(t)
	ctx := context.Background()
	t.Cleanup(func() {
		// The namespace takes enclave, its sandboxes and the policy with it.
		bin := os.Getenv("ENCLAVE_KUBECTL")
		exec.Command(bin, "--kubeconfig", os.Getenv("ENCLAVE_K8S_KUBECONFIG"), "delete", "-k", "testdata/kube-deploy",
			"--wait=true", "--timeout=90s", "--ignore-not-found").Run()
	})
	kubectl(t, "apply", "-k", "testdata/kube-deploy")
	key := "key-" + randHex(8)
	_, err := cs.CoreV1().Secrets("enclave").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "enclave-api-keys"},
		StringData: map[string]string{"api-keys": key + "\n"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	kubectl(t, "-n", "enclave", "rollout", "status", "deployment/enclave", "--timeout=120s")

	base, stopForward := portForward(t)
	defer func() { stopForward() }()
	// The API key comes from the Secret: without it, 401.
	resp, err := http.Get(base + "/sandboxes")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /sandboxes without the key = %d, want 401", resp.StatusCode)
	}
	cmd := exec.Command("bash", "../examples/curl/session.sh", base)
	cmd.Env = append(os.Environ(), "ENCLAVE_API_KEY="+key)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"output":"42\n"`) || !strings.Contains(string(out), "notes/hello.txt") ||
		!strings.Contains(string(out), "Sandbox deleted successfully") {
		t.Errorf("curl session against enclave in the cluster: %v\n%s\n%s", err, out, kubectl(t, "-n", "enclave", "logs", "deployment/enclave", "--tail=40"))
	}

	// The replica's pod goes (a rollout, an eviction): its pool members go
	// with it, by the cluster's garbage collector; a plain sandbox stays
	// and the new replica serves it (docs/api.md §7.4).
	c := client.New(base, key)
	cfg := map[string]any{"image": "python:3.11-slim", "tools_config": allTools}
	plain, err := c.CreateSandbox(ctx, "docker", cfg)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := c.InitializePool(ctx, 1, "docker", cfg)
	if err != nil || len(pool.SandboxIDs) != 1 {
		t.Fatalf("pool: %+v, %v", pool, err)
	}
	replicaPod := strings.TrimSpace(kubectl(t, "-n", "enclave", "get", "pods", "-l", "app.kubernetes.io/name=enclave", "-o", "jsonpath={.items[0].metadata.name}"))
	members, err := cs.CoreV1().Pods("enclave").List(ctx, metav1.ListOptions{LabelSelector: "enclave.pool=true"})
	if err != nil || len(members.Items) != 1 {
		t.Fatalf("pool member pods: %v, %v", members, err)
	}
	member := members.Items[0]
	if len(member.OwnerReferences) != 1 || member.OwnerReferences[0].Name != replicaPod {
		t.Errorf("pool member %s owners %+v, want the replica's pod %s", member.Name, member.OwnerReferences, replicaPod)
	}
	stopForward()
	kubectl(t, "-n", "enclave", "delete", "pod", replicaPod, "--wait=true", "--timeout=60s")
	kubectl(t, "-n", "enclave", "rollout", "status", "deployment/enclave", "--timeout=120s")
	if !within(90*time.Second, func() bool {
		_, err := cs.CoreV1().Pods("enclave").Get(ctx, member.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	}) {
		t.Errorf("pool member %s outlived its replica's pod", member.Name)
	}
	base, stopForward = portForward(t)
	c = client.New(base, key)
	var r *client.ToolResult
	if !within(30*time.Second, func() bool {
		r, err = c.ExecuteTool(ctx, plain, "python_executor", map[string]any{"code": "print(6 * 7)"})
		return err == nil
	}) || r.Status != "success" || r.Output != "42\n" {
		t.Errorf("plain sandbox %s through the new replica: %+v, %v", plain, r, err)
	}
	if err := c.DeleteSandbox(ctx, plain); err != nil {
		t.Errorf("delete %s through the new replica: %v", plain, err)
	}
}

// portForward forwards a free local port to the Deployment until stop.
func portForward(t *testing.T) (base string, stop func()) {
	t.Helper()
	port := freePort(t)
	pf := exec.Command(os.Getenv("ENCLAVE_KUBECTL"), "--kubeconfig", os.Getenv("ENCLAVE_K8S_KUBECONFIG"), "-n", "enclave",
		"port-forward", "deployment/enclave", port+":18080")
	var pfLog bytes.Buffer
	pf.Stdout, pf.Stderr = &pfLog, &pfLog
	pf.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := pf.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() { once.Do(func() { syscall.Kill(-pf.Process.Pid, syscall.SIGKILL); pf.Wait() }) }
	t.Cleanup(stop)
	base = "http://127.0.0.1:" + port
	if !within(30*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, time.Second)
		if err != nil {
			return false
		}
		c.Close()
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}) {
		t.Fatalf("enclave in the cluster did not answer through port-forward:\n%s", pfLog.String())
	}
	return base, stop
}
