package main

// Settings of the backend plugins: where each sandbox type runs, and the
// Kubernetes backend's cluster, namespace and pod placement. They reach
// the plugins as ENCLAVE_* variables (pluginEnv).

import (
	"flag"
	"fmt"
	"strings"
)

type backendConfig struct {
	typeBackends                              listFlag
	k8sKubeconfig, k8sContext, k8sNamespace   string
	k8sPullPolicy, k8sNodeSelector, k8sTolers string
	k8sRuntimeClass, k8sAnnotations           string
	k8sRequestFraction                        string
	k8sUserNamespaces                         string
	k8sOwnerPod, k8sOwnerUID                  string
}

func backendFlags(fs *flag.FlagSet, b *backendConfig) {
	fs.Var(&b.typeBackends, "type-backend", "serve a sandbox type with the named backend, TYPE=BACKEND (repeatable), e.g. docker=kubernetes and docker_notebook=kubernetes to run unchanged ms-enclave clients' sandboxes on a cluster; default: docker, docker_notebook and podman on podman when it is loaded")
	fs.StringVar(&b.k8sKubeconfig, "k8s-kubeconfig", "", "kubernetes backend: kubeconfig file of the cluster sandboxes run on; empty: the in-cluster config when enclave runs in a pod, else the backend is not used")
	fs.StringVar(&b.k8sContext, "k8s-context", "", "kubernetes backend: kubeconfig context (empty: the current one)")
	fs.StringVar(&b.k8sNamespace, "k8s-namespace", "default", "kubernetes backend: namespace of the sandbox pods")
	fs.StringVar(&b.k8sPullPolicy, "k8s-pull-policy", "IfNotPresent", "kubernetes backend: image pull policy of sandbox pods (Always, IfNotPresent, Never)")
	fs.StringVar(&b.k8sNodeSelector, "k8s-node-selector", "", "kubernetes backend: node selector of sandbox pods, KEY=VALUE[,KEY=VALUE]")
	fs.StringVar(&b.k8sTolers, "k8s-tolerations", "", "kubernetes backend: tolerations of sandbox pods, a JSON list as in a pod spec")
	fs.StringVar(&b.k8sRuntimeClass, "k8s-runtime-class", "", "kubernetes backend: runtimeClassName of sandbox pods (e.g. gvisor or kata, where the cluster has them)")
	fs.StringVar(&b.k8sAnnotations, "k8s-annotations", "", "kubernetes backend: annotations added to every sandbox pod, KEY=VALUE[,KEY=VALUE]")
	fs.StringVar(&b.k8sRequestFraction, "k8s-request-fraction", "0.1", "kubernetes backend: the fraction of a sandbox's limits its pod requests (what the scheduler reserves); 1 reserves everything")
	fs.StringVar(&b.k8sUserNamespaces, "k8s-user-namespaces", "false", "kubernetes backend: run sandbox pods with hostUsers: false (root in a sandbox is an unprivileged uid on the node); needs a cluster that supports user namespaces")
	fs.StringVar(&b.k8sOwnerPod, "k8s-owner-pod", "", "kubernetes backend: the pod this replica runs in (the Deployment sets it from the downward API); its pool members and spares are owned by it, so the cluster removes them when the pod goes away")
	fs.StringVar(&b.k8sOwnerUID, "k8s-owner-uid", "", "kubernetes backend: the uid of --k8s-owner-pod")
}

// typeRoutes parses --type-backend.
func typeRoutes(l listFlag) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range l {
		typ, name, ok := strings.Cut(kv, "=")
		if !ok || typ == "" || name == "" {
			return nil, fmt.Errorf("--type-backend %q: want TYPE=BACKEND", kv)
		}
		out[typ] = name
	}
	return out, nil
}

// env is what the backend plugins read.
func (b *backendConfig) env() map[string]string {
	return map[string]string{
		"ENCLAVE_K8S_KUBECONFIG": b.k8sKubeconfig, "ENCLAVE_K8S_CONTEXT": b.k8sContext, "ENCLAVE_K8S_NAMESPACE": b.k8sNamespace,
		"ENCLAVE_K8S_PULL_POLICY": b.k8sPullPolicy, "ENCLAVE_K8S_NODE_SELECTOR": b.k8sNodeSelector, "ENCLAVE_K8S_TOLERATIONS": b.k8sTolers,
		"ENCLAVE_K8S_RUNTIME_CLASS": b.k8sRuntimeClass, "ENCLAVE_K8S_ANNOTATIONS": b.k8sAnnotations,
		"ENCLAVE_K8S_REQUEST_FRACTION": b.k8sRequestFraction, "ENCLAVE_K8S_USER_NAMESPACES": b.k8sUserNamespaces,
		"ENCLAVE_K8S_OWNER_POD": b.k8sOwnerPod, "ENCLAVE_K8S_OWNER_UID": b.k8sOwnerUID,
	}
}
