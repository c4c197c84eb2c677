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
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

	port := freePort(t)
	pf := exec.Command(os.Getenv("ENCLAVE_KUBECTL"), "--kubeconfig", os.Getenv("ENCLAVE_K8S_KUBECONFIG"), "-n", "enclave",
		"port-forward", "deployment/enclave", port+":18080")
	var pfLog bytes.Buffer
	pf.Stdout, pf.Stderr = &pfLog, &pfLog
	pf.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := pf.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(-pf.Process.Pid, syscall.SIGKILL); pf.Wait() })
	base := "http://127.0.0.1:" + port
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
}
