package main

// Tests against a real cluster: ENCLAVE_K8S_KUBECONFIG names it (make
// test-k8s brings one up). Without it they skip, unless
// ENCLAVE_REQUIRE_K8S=1.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/enclave-sandbox/enclave/sdk"
	"github.com/enclave-sandbox/enclave/sdk/sdktest"
)

func testBackend(t *testing.T) *Kubernetes {
	t.Helper()
	if os.Getenv("ENCLAVE_K8S_KUBECONFIG") == "" {
		if os.Getenv("ENCLAVE_REQUIRE_K8S") == "1" {
			t.Fatal("ENCLAVE_K8S_KUBECONFIG is not set and ENCLAVE_REQUIRE_K8S=1")
		}
		t.Skip("no cluster: set ENCLAVE_K8S_KUBECONFIG (make test-k8s brings one up)")
	}
	cfg, err := configFromEnv(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	k := New(cfg)
	t.Cleanup(k.Shutdown)
	return k
}

func testImage() string {
	if v := os.Getenv("ENCLAVE_TEST_IMAGE"); v != "" {
		return v
	}
	return "localhost/enclave-python:3.11"
}

func testSpec(kind string) sdk.Spec {
	return sdk.Spec{Name: fmt.Sprintf("enclave-%s-%d", kind, time.Now().UnixNano()), Image: testImage(), WorkingDir: "/sandbox",
		MemoryBytes: 256 << 20, CPUs: 1, PidsLimit: 256, Labels: map[string]string{"enclave.test": kind, "enclave.config": `{"image": "x y"}`}}
}

func newSandbox(t *testing.T, k *Kubernetes, mutate func(*sdk.Spec)) sdk.State {
	t.Helper()
	s := testSpec("unit")
	if mutate != nil {
		mutate(&s)
	}
	st, err := k.Create(context.Background(), s, time.Minute)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() { k.Remove(context.Background(), st.ContainerID) })
	return st
}

func TestContract(t *testing.T) {
	sdktest.RunBackend(t, testBackend(t), testSpec("contract"))
}

func TestBehaviour(t *testing.T) {
	sdktest.RunBackendBehaviour(t, testBackend(t), testSpec("behaviour"))
}

// TestPodSecurity: what the pod spec promises holds inside the sandbox.
func TestPodSecurity(t *testing.T) {
	k := testBackend(t)
	st := newSandbox(t, k, nil)
	r, err := k.Exec(context.Background(), st.ContainerID, sdk.ExecRequest{Argv: []string{"sh", "-c",
		"cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max; grep -E '^(NoNewPrivs|CapEff|Seccomp):' /proc/self/status; " +
			"ls /var/run/secrets/kubernetes.io 2>&1; pwd"}, WorkingDir: "/sandbox"})
	if err != nil {
		t.Fatal(err)
	}
	out := string(r.Stdout) + string(r.Stderr)
	for _, want := range []string{"268435456", "NoNewPrivs:\t1", "CapEff:\t00000000000004fb", "Seccomp:\t2", "No such file", "/sandbox\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("sandbox lacks %q:\n%s", want, out)
		}
	}
}

// TestNoNetworkPolicy: a sandbox without network is selected by the
// namespace's deny-all NetworkPolicy (which the cluster's network plugin
// enforces, where it enforces policies).
func TestNoNetworkPolicy(t *testing.T) {
	k := testBackend(t)
	st := newSandbox(t, k, nil)
	ctx := context.Background()
	np, err := k.cs.NetworkingV1().NetworkPolicies(k.cfg.Namespace).Get(ctx, policyName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the no-network policy: %v", err)
	}
	pod, err := k.cs.CoreV1().Pods(k.cfg.Namespace).Get(ctx, st.ContainerID, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for key, v := range np.Spec.PodSelector.MatchLabels {
		if pod.Labels[key] != v {
			t.Errorf("policy selects %s=%s; the sandbox pod has %q", key, v, pod.Labels[key])
		}
	}
	if len(np.Spec.Ingress) != 0 || len(np.Spec.Egress) != 0 || len(np.Spec.PolicyTypes) != 2 {
		t.Errorf("policy allows something: %+v", np.Spec)
	}
	withNet := newSandbox(t, k, func(s *sdk.Spec) { s.NetworkEnabled = true })
	pod, _ = k.cs.CoreV1().Pods(k.cfg.Namespace).Get(ctx, withNet.ContainerID, metav1.GetOptions{})
	if pod.Labels[labelNetwork] == "none" {
		t.Errorf("a sandbox that asked for network is selected by the deny-all policy")
	}
}

// TestRelabel: a spare is claimed by relabelling; its name follows.
func TestRelabel(t *testing.T) {
	k := testBackend(t)
	st := newSandbox(t, k, nil)
	ctx := context.Background()
	if err := k.Rename(ctx, st.ContainerID, "sandbox-claimed"); err != nil {
		t.Fatal(err)
	}
	got, err := k.Inspect(ctx, st.ContainerID)
	if err != nil || got.Name != "sandbox-claimed" || got.Status != "running" {
		t.Errorf("after relabel: %+v, %v", got, err)
	}
	if err := k.Rename(ctx, "no-such-pod", "x"); !errors.Is(err, sdk.ErrSandboxNotFound) {
		t.Errorf("Rename(missing) = %v, want sdk.ErrSandboxNotFound", err)
	}
}

// TestOwnedByReplica: pool members and spares made by a replica running in
// a pod are removed by the cluster when that pod goes; a claimed spare
// and a plain sandbox stay (docs/api.md §7.4).
func TestOwnedByReplica(t *testing.T) {
	k := testBackend(t)
	ctx := context.Background()
	replica := newSandbox(t, k, nil) // stands in for enclave's own pod
	pod, err := k.cs.CoreV1().Pods(k.cfg.Namespace).Get(ctx, replica.ContainerID, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := k.cfg
	if cfg.Owner, err = ownerFromEnv(pod.Name, string(pod.UID)); err != nil {
		t.Fatal(err)
	}
	r := New(cfg)
	t.Cleanup(r.Shutdown)
	plain := newSandbox(t, r, nil)
	member := newSandbox(t, r, func(s *sdk.Spec) { s.Labels[sdk.LabelPool] = "true" })
	spare := newSandbox(t, r, func(s *sdk.Spec) { s.Name = sdk.SparePrefix + s.Name })
	owned := func(ref string) bool {
		p, err := k.cs.CoreV1().Pods(k.cfg.Namespace).Get(ctx, ref, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return len(p.OwnerReferences) == 1 && p.OwnerReferences[0].UID == pod.UID
	}
	if owned(plain.ContainerID) || !owned(member.ContainerID) || !owned(spare.ContainerID) {
		t.Fatalf("owners: plain %v member %v spare %v; want only the pool member and the spare owned",
			owned(plain.ContainerID), owned(member.ContainerID), owned(spare.ContainerID))
	}
	if err := r.Rename(ctx, spare.ContainerID, "sandbox-claimed"); err != nil {
		t.Fatal(err)
	}
	if owned(spare.ContainerID) {
		t.Fatal("a claimed spare is still owned by the replica")
	}
	if err := k.Remove(ctx, replica.ContainerID); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		_, err := k.Inspect(ctx, member.ContainerID)
		if errors.Is(err, sdk.ErrSandboxNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pool member outlived its replica's pod by 90 s (%v)", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, ref := range []string{plain.ContainerID, spare.ContainerID} {
		if st, err := k.Inspect(ctx, ref); err != nil || st.Status != "running" {
			t.Errorf("%s after its replica's pod went: %+v, %v; want running", ref, st, err)
		}
	}
}

// TestWatchSeesOthers: List answers from the pod watch, which sees a pod
// that another process (another replica) created and deleted.
func TestWatchSeesOthers(t *testing.T) {
	mine, other := testBackend(t), testBackend(t)
	st := newSandbox(t, other, func(s *sdk.Spec) { s.Labels["enclave.test"] = "watch" })
	want := map[string]string{"enclave.test": "watch"}
	seen := func(present bool) bool {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			list, err := mine.List(context.Background(), want)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, s := range list {
				found = found || s.ContainerID == st.ContainerID
			}
			if found == present {
				return true
			}
			time.Sleep(20 * time.Millisecond)
		}
		return false
	}
	if !seen(true) {
		t.Fatalf("the other backend's pod never appeared in List")
	}
	if err := other.Remove(context.Background(), st.ContainerID); err != nil {
		t.Fatal(err)
	}
	if !seen(false) {
		t.Errorf("the removed pod stayed in List")
	}
}

func TestCreateFailures(t *testing.T) {
	k := testBackend(t)
	ctx := context.Background()
	s := testSpec("fail")
	run := fmt.Sprint(time.Now().UnixNano())
	s.Labels["enclave.run"] = run
	s.Image = "localhost/no-such-image:1"
	if _, err := k.Create(ctx, s, time.Minute); !errors.Is(err, sdk.ErrImageNotFound) && !errors.Is(err, sdk.ErrStartFailed) {
		t.Errorf("Create(missing image) = %v, want image not found", err)
	}
	pods, _ := k.cs.CoreV1().Pods(k.cfg.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "enclave.run=" + run})
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			t.Errorf("a failed create left pod %s behind", p.Name)
		}
	}
	if _, err := k.Exec(ctx, "no-such-pod", sdk.ExecRequest{Argv: []string{"true"}}); !errors.Is(err, sdk.ErrSandboxNotFound) {
		t.Errorf("Exec(missing pod) = %v, want sdk.ErrSandboxNotFound", err)
	}
}

func TestMemoryLimitOOM(t *testing.T) {
	k := testBackend(t)
	st := newSandbox(t, k, func(s *sdk.Spec) { s.MemoryBytes = 64 << 20 })
	r, err := k.Exec(context.Background(), st.ContainerID, sdk.ExecRequest{Argv: []string{"python3", "-c", "b = bytearray(300 << 20)"}, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if r.ExitCode != 137 || !r.OOMKilled {
		t.Errorf("allocating past the limit: code %d oom %v stderr %q", r.ExitCode, r.OOMKilled, r.Stderr)
	}
}
