package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listers "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/enclave-sandbox/enclave/sdk"
	"github.com/enclave-sandbox/enclave/sdk/backend"
)

// version is set by the Makefile (-ldflags -X main.version=...).
var version = "dev"

// Config configures the backend (main.go reads it from ENCLAVE_K8S_*).
type Config struct {
	// Kubeconfig is a kubeconfig file; empty: in-cluster config, else the
	// default loading rules ($KUBECONFIG, ~/.kube/config).
	Kubeconfig string
	// Context selects a kubeconfig context; empty: the current one.
	Context string
	// Namespace holds every sandbox pod.
	Namespace string
	// PullPolicy of sandbox images (Never, IfNotPresent, Always).
	PullPolicy corev1.PullPolicy
	// NodeSelector, Tolerations and RuntimeClass place sandbox pods (e.g.
	// runtime class gvisor or kata where the cluster has them).
	NodeSelector map[string]string
	Tolerations  []corev1.Toleration
	RuntimeClass string
	// Annotations are added to every sandbox pod.
	Annotations map[string]string
	// RequestFraction of the limits is what a pod requests (1: all).
	RequestFraction float64
	// UserNamespaces runs sandbox pods with hostUsers: false (root in a
	// sandbox is an unprivileged uid on the node); needs a cluster that
	// supports user namespaces.
	UserNamespaces bool
	// Owner is the pod enclave runs in (the Deployment's downward API):
	// pool members and spares name it as their owner, so the cluster's
	// garbage collector removes them when that replica's pod goes away
	// (docs/api.md §7.4). Nil outside a cluster.
	Owner *metav1.OwnerReference
	// Types are the sandbox types served.
	Types []string
}

// Kubernetes is the Kubernetes backend: sandboxes are pods.
type Kubernetes struct {
	cfg Config

	mu      sync.Mutex
	ready   bool
	rest    *rest.Config
	cs      kubernetes.Interface
	pods    listers.PodNamespaceLister
	stop    chan struct{}
	changed chan struct{} // closed and replaced on every pod event
	policy  bool          // the deny-all NetworkPolicy exists
}

// New returns a backend; it connects on first use so Info never waits.
func New(cfg Config) *Kubernetes {
	return &Kubernetes{cfg: cfg, changed: make(chan struct{})}
}

// Shutdown stops the pod watch.
func (k *Kubernetes) Shutdown() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.stop != nil {
		close(k.stop)
		k.stop = nil
	}
}

func restConfig(cfg Config) (*rest.Config, error) {
	if cfg.Kubeconfig == "" && cfg.Context == "" {
		if c, err := rest.InClusterConfig(); err == nil {
			return c, nil
		}
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if cfg.Kubeconfig != "" {
		rules.ExplicitPath = cfg.Kubeconfig
	}
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: cfg.Context}).ClientConfig()
}

// connect builds the client and starts the watch of the namespace's
// sandbox pods; List and the start wait read its cache, so a replica
// learns of another replica's pods without asking the API server.
func (k *Kubernetes) connect(ctx context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.ready {
		return nil
	}
	rc, err := restConfig(k.cfg)
	if err != nil {
		return fmt.Errorf("kubernetes config: %w: %w", sdk.ErrUnavailable, err)
	}
	// Sandboxes are driven hard (a pool call can be an exec): client-go's
	// default 5 requests/s would throttle them.
	rc.QPS, rc.Burst = 500, 1000
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("kubernetes client: %w: %w", sdk.ErrUnavailable, err)
	}
	stop := make(chan struct{})
	f := informers.NewSharedInformerFactoryWithOptions(cs, 10*time.Minute, informers.WithNamespace(k.cfg.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = labelManaged + "=true" }))
	inf := f.Core().V1().Pods()
	notify := func(any) { k.notify() }
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: notify,
		UpdateFunc: func(_, n any) { k.notify() }, DeleteFunc: notify}); err != nil {
		close(stop)
		return fmt.Errorf("watch pods: %w", err)
	}
	f.Start(stop)
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if !cache.WaitForCacheSync(sctx.Done(), inf.Informer().HasSynced) {
		close(stop)
		return fmt.Errorf("watch pods in namespace %s: not synced: %w", k.cfg.Namespace, sdk.ErrUnavailable)
	}
	k.rest, k.cs, k.pods, k.stop, k.ready = rc, cs, inf.Lister().Pods(k.cfg.Namespace), stop, true
	slog.Info("connected to kubernetes", "host", rc.Host, "namespace", k.cfg.Namespace)
	return nil
}

func (k *Kubernetes) notify() {
	k.mu.Lock()
	close(k.changed)
	k.changed = make(chan struct{})
	k.mu.Unlock()
}

// cached returns the watch's view of pod name and a channel closed at the
// next change.
func (k *Kubernetes) cached(name string) (*corev1.Pod, <-chan struct{}) {
	k.mu.Lock()
	ch := k.changed
	k.mu.Unlock()
	p, err := k.pods.Get(name)
	if err != nil {
		return nil, ch
	}
	return p, ch
}

func (k *Kubernetes) listCached(sel labels.Selector) ([]*corev1.Pod, error) {
	return k.pods.List(sel)
}

// mapErr turns an API error into a typed sdk error.
func mapErr(err error, what string) error {
	switch {
	case err == nil:
		return nil
	case apierrors.IsNotFound(err):
		return fmt.Errorf("%s: %s: %w", what, err.Error(), sdk.ErrSandboxNotFound)
	case apierrors.IsInvalid(err) || apierrors.IsBadRequest(err):
		return fmt.Errorf("%s: %s: %w", what, err.Error(), sdk.ErrInvalidArgument)
	case apierrors.IsAlreadyExists(err):
		return fmt.Errorf("%s: %s: %w", what, err.Error(), sdk.ErrStartFailed)
	case apierrors.IsServiceUnavailable(err) || apierrors.IsTimeout(err) || apierrors.IsServerTimeout(err) || errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: %s: %w", what, err.Error(), sdk.ErrUnavailable)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// Info implements backend.Backend. Without a cluster to use (no
// kubeconfig given, not in a pod) it serves no type, and the host leaves
// it unused.
func (k *Kubernetes) Info(context.Context) (sdk.Info, error) {
	info := sdk.Info{Name: "kubernetes", Kind: sdk.KindBackend, Version: version, APIVersions: []uint32{sdk.APIVersion},
		Description: "Kubernetes pods, exec through the API server", SandboxTypes: k.cfg.Types}
	if !k.cfg.configured() {
		info.Description, info.SandboxTypes = "not configured: give --k8s-kubeconfig, or run enclave in a pod", nil
	}
	return info, nil
}

// configured: a kubeconfig was named, or this process runs in a pod.
func (c Config) configured() bool {
	if c.Kubeconfig != "" || c.Context != "" {
		return true
	}
	_, err := rest.InClusterConfig()
	return err == nil
}

// Health implements backend.HealthChecker: the API server answers, and
// what a pod cannot bound.
func (k *Kubernetes) Health(ctx context.Context) (sdk.Health, error) {
	if err := k.connect(ctx); err != nil {
		return sdk.Health{}, err
	}
	if _, err := k.cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx); err != nil {
		return sdk.Health{}, fmt.Errorf("kubernetes API server not ready: %w: %w", sdk.ErrUnavailable, err)
	}
	h := sdk.Health{Warnings: []string{
		"kubernetes: the pids limit of a sandbox is the kubelet's podPidsLimit (pod specs have none); set it on every node",
		"kubernetes: sandboxes without network get a deny-all NetworkPolicy, which only a network plugin that enforces policies (Calico, Cilium, ...) applies",
	}}
	if !k.cfg.UserNamespaces {
		h.Warnings = append(h.Warnings, "kubernetes: sandbox pods share the node's user namespace (root in a sandbox is root on the node, confined by its capabilities and seccomp); set ENCLAVE_K8S_USER_NAMESPACES=true on clusters that support hostUsers: false")
	}
	return h, nil
}

var (
	_ backend.Backend       = (*Kubernetes)(nil)
	_ backend.SessionOpener = (*Kubernetes)(nil)
	_ backend.Renamer       = (*Kubernetes)(nil)
	_ backend.HealthChecker = (*Kubernetes)(nil)
)
