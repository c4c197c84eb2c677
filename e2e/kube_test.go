package e2e

// The kubernetes backend in the end-to-end suite: make test-k8s runs the
// core cases with ENCLAVE_E2E_BACKEND=kubernetes, so every sandbox of type
// docker (what unchanged ms-enclave clients create) is a pod on the test
// cluster of ENCLAVE_K8S_KUBECONFIG.

import (
	"context"
	"os"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// kubeMode reports whether sandboxes run on the test cluster.
func kubeMode() bool { return os.Getenv("ENCLAVE_E2E_BACKEND") == "kubernetes" }

const kubeNamespace = "default"

// kubeArgs route the ms-enclave types to the kubernetes backend.
func kubeArgs() []string {
	return []string{"--type-backend", "docker=kubernetes", "--type-backend", "docker_notebook=kubernetes", "--type-backend", "podman=kubernetes",
		"--k8s-kubeconfig", os.Getenv("ENCLAVE_K8S_KUBECONFIG"), "--k8s-namespace", kubeNamespace, "--k8s-pull-policy", "Never",
		// The test node has 2 CPUs; sandboxes ask for 2 each.
		"--k8s-request-fraction", "0.02"}
}

// requireKube skips (or, with ENCLAVE_REQUIRE_K8S=1, fails) without the
// test cluster.
func requireKube(t *testing.T) kubernetes.Interface {
	t.Helper()
	if !kubeMode() || os.Getenv("ENCLAVE_K8S_KUBECONFIG") == "" {
		if os.Getenv("ENCLAVE_REQUIRE_K8S") == "1" {
			t.Fatal("ENCLAVE_REQUIRE_K8S=1 but ENCLAVE_E2E_BACKEND=kubernetes and ENCLAVE_K8S_KUBECONFIG are not both set")
		}
		t.Skip("no test cluster: make test-k8s runs these")
	}
	return kubeClient(t)
}

func kubeClient(t *testing.T) kubernetes.Interface {
	t.Helper()
	rc, err := clientcmd.BuildConfigFromFlags("", os.Getenv("ENCLAVE_K8S_KUBECONFIG"))
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// kubePods lists the pods of an instance that are not on their way out.
func kubePods(t *testing.T, instance string) []string {
	t.Helper()
	list, err := kubeClient(t).CoreV1().Pods(kubeNamespace).List(context.Background(), metav1.ListOptions{LabelSelector: "enclave.instance=" + instance})
	if err != nil {
		t.Logf("list pods: %v", err)
		return nil
	}
	var out []string
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, p.Name)
		}
	}
	return out
}

// containerIDPattern is what metadata.container_id looks like: Podman's
// 64-hex id, or on the cluster the pod's name.
func containerIDPattern(id string) string {
	if kubeMode() {
		return "sandbox-" + id
	}
	return "[0-9a-f]{64}"
}

// backendName is the backend plugin serving docker sandboxes.
func backendName() string {
	if kubeMode() {
		return "kubernetes"
	}
	return "podman"
}

// kubeSpare is the name of the instance's unclaimed spare pod, or "".
func kubeSpare(t *testing.T, instance string) string {
	for _, p := range kubePods(t, instance) {
		if strings.HasPrefix(p, "spare-") && kubeName(t, p) == p {
			return p
		}
	}
	return ""
}

// kubeName is a pod's sandbox name: its name label, else its name.
func kubeName(t *testing.T, pod string) string {
	p, err := kubeClient(t).CoreV1().Pods(kubeNamespace).Get(context.Background(), pod, metav1.GetOptions{})
	if err != nil {
		return ""
	}
	if n := p.Labels["enclave.name"]; n != "" {
		return n
	}
	return p.Name
}
