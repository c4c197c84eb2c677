//go:build remote

package main

// The kubernetes rows: the same paths with every sandbox a pod on the
// cluster of --kubeconfig, next to that cluster's floors (a raw pod create
// until Running, a raw exec through the API server), and the pool driven
// by one replica and by two.

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/streaming/pkg/httpstream"

	"github.com/enclave-sandbox/enclave/client"
)

// startKubeServer starts a replica of instance on the cluster.
func startKubeServer(bin, kubeconfig, image, instance, replica string) (*client.Client, func()) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	cmd := exec.Command(filepath.Join(bin, "enclave"), "server", "--port", port, "--plugin-dir", filepath.Join(bin, "plugins"),
		"--instance", instance, "--replica", replica, "--log-level", "warn", "--image-alias", "python:3.11-slim="+image,
		"--type-backend", "docker=kubernetes", "--k8s-kubeconfig", kubeconfig, "--k8s-pull-policy", "Never", "--k8s-request-fraction", "0.02",
		"--max-cpus", "2", "--pids-limit", "512")
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM} // dies with the bench, even on log.Fatal
	must(cmd.Start(), "start server")
	c := client.New("http://127.0.0.1:"+port, "")
	for i := 0; i < 300 && c.Healthz(context.Background()) != nil; i++ {
		time.Sleep(50 * time.Millisecond)
	}
	return c, func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }
}

// kubeFloors: a raw pod (the image's sleep) created until Running and
// deleted; a raw exec of python3 -c 'print(40+2)' through the API server.
func kubeFloors(ctx context.Context, rc *rest.Config, image string) (create, execFloor Result) {
	cs, err := kubernetes.NewForConfig(rc)
	must(err, "kubernetes client")
	pods := cs.CoreV1().Pods("default")
	no := false
	podSpec := func(name string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
			AutomountServiceAccountToken: &no, Containers: []corev1.Container{{Name: "c", Image: image, ImagePullPolicy: corev1.PullNever,
				Command: []string{"sleep", "infinity"}, Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")}}}}}}
	}
	running := func(name string) error {
		for i := 0; i < 3000; i++ {
			p, err := pods.Get(ctx, name, metav1.GetOptions{})
			if err == nil && p.Status.Phase == corev1.PodRunning {
				return nil
			}
			time.Sleep(5 * time.Millisecond)
		}
		return fmt.Errorf("pod %s not running", name)
	}
	zero := int64(0)
	ds, wall, err := timeN(10, func() error {
		name := fmt.Sprintf("floor-%d", time.Now().UnixNano())
		if _, err := pods.Create(ctx, podSpec(name), metav1.CreateOptions{}); err != nil {
			return err
		}
		if err := running(name); err != nil {
			return err
		}
		return pods.Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	})
	must(err, "pod create floor")
	create = summarize("floor: pod create -> Running (+ delete)", ds, wall)
	name := fmt.Sprintf("floor-exec-%d", time.Now().UnixNano())
	_, err = pods.Create(ctx, podSpec(name), metav1.CreateOptions{})
	must(err, "exec floor pod")
	defer pods.Delete(context.Background(), name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	must(running(name), "exec floor pod")
	ds, wall, err = timeN(50, func() error {
		u := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace("default").Name(name).SubResource("exec").
			VersionedParams(&corev1.PodExecOptions{Container: "c", Command: []string{"python3", "-c", "print(40+2)"}, Stdout: true, Stderr: true}, scheme.ParameterCodec).URL()
		ws, err := remotecommand.NewWebSocketExecutor(rc, "GET", u.String())
		if err != nil {
			return err
		}
		spdy, err := remotecommand.NewSPDYExecutor(rc, "POST", u)
		if err != nil {
			return err
		}
		ex, err := remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool { return httpstream.IsUpgradeFailure(err) })
		if err != nil {
			return err
		}
		var out, errOut bytes.Buffer
		if err := ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &out, Stderr: &errOut}); err != nil {
			return err
		}
		if strings.TrimSpace(out.String()) != "42" {
			return fmt.Errorf("exec floor printed %q, stderr %q", out.String(), errOut.String())
		}
		return nil
	})
	must(err, "exec floor")
	return create, summarize("floor: exec through the API server", ds, wall)
}

// poolThroughput drives /pool/execute print(1) at conc through clients
// (round robin) for dur.
func poolThroughput(ctx context.Context, name string, clients []*client.Client, conc int, dur time.Duration) Result {
	var mu sync.Mutex
	var all []time.Duration
	var errs atomic.Int64
	stop := time.Now().Add(dur)
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func(c *client.Client) {
			defer wg.Done()
			for time.Now().Before(stop) {
				t := time.Now()
				r, err := c.ExecuteInPool(ctx, "python_executor", map[string]any{"code": "print(1)"}, 60)
				if err != nil || r.Status != "success" {
					errs.Add(1)
					continue
				}
				mu.Lock()
				all = append(all, time.Since(t))
				mu.Unlock()
			}
		}(clients[w%len(clients)])
	}
	wg.Wait()
	r := summarize(name, all, time.Since(start))
	if e := errs.Load(); e > 0 {
		r.Note = fmt.Sprintf("%d errors", e)
	}
	return r
}

// quiesce waits (at most a minute) until no pod is being deleted.
func quiesce(ctx context.Context, rc *rest.Config) {
	cs, err := kubernetes.NewForConfig(rc)
	must(err, "clientset")
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		pods, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
		must(err, "list pods")
		busy := false
		for _, p := range pods.Items {
			busy = busy || p.DeletionTimestamp != nil
		}
		if !busy {
			return
		}
	}
}

// benchKube measures the kubernetes rows.
func benchKube(ctx context.Context, bin, kubeconfig, image string, n int, dur time.Duration, add func(Result)) {
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	must(err, "kubeconfig")
	rc.QPS, rc.Burst = 500, 1000
	fmt.Fprintln(os.Stderr, "kubernetes floors (client-go, same run):")
	createFloor, execFloor := kubeFloors(ctx, rc, image)
	add(createFloor)
	add(execFloor)
	fmt.Fprintln(os.Stderr, "enclave over HTTP, sandboxes as pods:")
	a, stopA := startKubeServer(bin, kubeconfig, image, "bench-k8s", "a")
	defer stopA()
	tools := map[string]any{"tools_config": []string{"python_executor", "shell_executor"}}
	// The warm row first, once the floors' pods are gone: the kubelet tears
	// deleted pods down for seconds after, on the same 2 cores.
	quiesce(ctx, rc)
	id, err := a.CreateSandbox(ctx, "docker", tools)
	must(err, "k8s create")
	defer a.DeleteSandbox(ctx, id)
	a.ExecuteTool(ctx, id, "python_executor", map[string]any{"code": "pass"})
	ds, wall, err := timeN(n, func() error {
		r, err := a.ExecuteTool(ctx, id, "python_executor", map[string]any{"code": "print(40+2)"})
		if err == nil && r.Status != "success" {
			err = fmt.Errorf("%s", r.Status)
		}
		return err
	})
	must(err, "k8s warm")
	add(withFloor(summarize("k8s python_executor print(40+2), warm, sequential", ds, wall), execFloor))
	ds, wall, err = timeN(10, func() error {
		id, err := a.CreateSandbox(ctx, "docker", coldConfig())
		if err != nil {
			return err
		}
		if _, err := a.ExecuteTool(ctx, id, "python_executor", map[string]any{"code": "print(1)"}); err != nil {
			return err
		}
		return a.DeleteSandbox(ctx, id)
	})
	must(err, "k8s cold path")
	add(withFloor(summarize("k8s cold: create -> print(1) -> delete", ds, wall), createFloor))

	poolCfg := map[string]any{"tools_config": []string{"python_executor"}}
	_, err = a.InitializePool(ctx, 8, "docker", poolCfg)
	must(err, "k8s pool")
	time.Sleep(2 * time.Second) // runners warm
	one := poolThroughput(ctx, "k8s /pool/execute print(1), c=16, one replica (pool of 8)", []*client.Client{a}, 16, dur)
	add(withFloor(one, execFloor))
	var spareDs []time.Duration
	spareStart := time.Now()
	for i := 0; i < 10; i++ {
		time.Sleep(1500 * time.Millisecond) // the spare is replenished, untimed
		t := time.Now()
		sid, err := a.CreateSandbox(ctx, "docker", poolCfg)
		must(err, "k8s create from spare")
		_, err = a.ExecuteTool(ctx, sid, "python_executor", map[string]any{"code": "print(1)"})
		must(err, "k8s call on spare")
		spareDs = append(spareDs, time.Since(t))
		must(a.DeleteSandbox(ctx, sid), "k8s delete spare")
	}
	add(withFloor(summarize("k8s create from a spare -> print(1) (delete untimed)", spareDs, time.Since(spareStart)), createFloor))

	b, stopB := startKubeServer(bin, kubeconfig, image, "bench-k8s", "b")
	defer stopB()
	_, err = b.InitializePool(ctx, 8, "docker", poolCfg)
	must(err, "k8s pool b")
	time.Sleep(2 * time.Second)
	two := poolThroughput(ctx, "k8s /pool/execute print(1), c=16, two replicas (pool of 8 each)", []*client.Client{a, b}, 16, dur)
	two.Note = fmt.Sprintf(" %.2fx one replica's throughput %s", two.PerSec/one.PerSec, two.Note)
	add(withFloor(two, execFloor))
	for _, c := range []*client.Client{a, b} {
		list, _ := c.ListSandboxes(ctx, "")
		for _, sb := range list {
			c.DeleteSandbox(ctx, sb.ID)
		}
	}
}
