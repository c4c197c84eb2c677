package main

// The plugin's settings, from the ENCLAVE_K8S_* variables the host sets
// from its --k8s-* flags.

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/enclave-sandbox/enclave/sdk"
)

// TypeKubernetes is the sandbox type this backend always serves; the
// ms-enclave types go to it when the operator routes them here
// (enclave server --type-backend docker=kubernetes).
const TypeKubernetes = "kubernetes"

// defaultRequestFraction: a sandbox requests a tenth of its limits, so a
// node holds many idle sandboxes (what sandboxes mostly are).
const defaultRequestFraction = 0.1

func configFromEnv(getenv func(string) string) (Config, error) {
	cfg := Config{
		Kubeconfig: getenv("ENCLAVE_K8S_KUBECONFIG"), Context: getenv("ENCLAVE_K8S_CONTEXT"),
		Namespace: getenv("ENCLAVE_K8S_NAMESPACE"), RuntimeClass: getenv("ENCLAVE_K8S_RUNTIME_CLASS"),
		PullPolicy: corev1.PullPolicy(getenv("ENCLAVE_K8S_PULL_POLICY")), RequestFraction: defaultRequestFraction,
		Types: append([]string{TypeKubernetes}, sdk.ContainerTypes()...),
	}
	if cfg.Namespace == "" {
		cfg.Namespace = "default"
	}
	if errs := validation.IsDNS1123Label(cfg.Namespace); len(errs) > 0 {
		return Config{}, fmt.Errorf("ENCLAVE_K8S_NAMESPACE %q: %s", cfg.Namespace, errs[0])
	}
	switch cfg.PullPolicy {
	case "":
		cfg.PullPolicy = corev1.PullIfNotPresent
	case corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
	default:
		return Config{}, fmt.Errorf("ENCLAVE_K8S_PULL_POLICY %q: want Always, IfNotPresent or Never", cfg.PullPolicy)
	}
	var err error
	if cfg.NodeSelector, err = keyValues("ENCLAVE_K8S_NODE_SELECTOR", getenv("ENCLAVE_K8S_NODE_SELECTOR"), true); err != nil {
		return Config{}, err
	}
	if cfg.Annotations, err = keyValues("ENCLAVE_K8S_ANNOTATIONS", getenv("ENCLAVE_K8S_ANNOTATIONS"), false); err != nil {
		return Config{}, err
	}
	if v := getenv("ENCLAVE_K8S_TOLERATIONS"); v != "" {
		if err := json.Unmarshal([]byte(v), &cfg.Tolerations); err != nil {
			return Config{}, fmt.Errorf("ENCLAVE_K8S_TOLERATIONS: a JSON list of tolerations: %w", err)
		}
	}
	if v := getenv("ENCLAVE_K8S_REQUEST_FRACTION"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 || f > 1 {
			return Config{}, fmt.Errorf("ENCLAVE_K8S_REQUEST_FRACTION %q: want a number in (0, 1]", v)
		}
		cfg.RequestFraction = f
	}
	if v := getenv("ENCLAVE_K8S_USER_NAMESPACES"); v != "" {
		if cfg.UserNamespaces, err = strconv.ParseBool(v); err != nil {
			return Config{}, fmt.Errorf("ENCLAVE_K8S_USER_NAMESPACES %q: %w", v, err)
		}
	}
	if cfg.Owner, err = ownerFromEnv(getenv("ENCLAVE_K8S_OWNER_POD"), getenv("ENCLAVE_K8S_OWNER_UID")); err != nil {
		return Config{}, err
	}
	if cfg.RuntimeClass != "" {
		if errs := validation.IsDNS1123Subdomain(cfg.RuntimeClass); len(errs) > 0 {
			return Config{}, fmt.Errorf("ENCLAVE_K8S_RUNTIME_CLASS %q: %s", cfg.RuntimeClass, errs[0])
		}
	}
	return cfg, nil
}

// ownerFromEnv is the replica's own pod, named and identified (both or
// neither).
func ownerFromEnv(name, uid string) (*metav1.OwnerReference, error) {
	switch {
	case name == "" && uid == "":
		return nil, nil
	case name == "" || uid == "":
		return nil, fmt.Errorf("ENCLAVE_K8S_OWNER_POD and ENCLAVE_K8S_OWNER_UID go together (got %q and %q)", name, uid)
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return nil, fmt.Errorf("ENCLAVE_K8S_OWNER_POD %q: %s", name, errs[0])
	}
	if _, err := uuid.Parse(uid); err != nil {
		return nil, fmt.Errorf("ENCLAVE_K8S_OWNER_UID %q: not a pod uid: %w", uid, err)
	}
	no := false
	return &metav1.OwnerReference{APIVersion: "v1", Kind: "Pod", Name: name, UID: types.UID(uid), BlockOwnerDeletion: &no}, nil
}

// keyValues parses "k=v,k2=v2"; label values are checked as such.
func keyValues(name, v string, labelValues bool) (map[string]string, error) {
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	out := map[string]string{}
	for _, kv := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%s: %q is not KEY=VALUE", name, kv)
		}
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return nil, fmt.Errorf("%s: key %q: %s", name, k, errs[0])
		}
		if labelValues {
			if errs := validation.IsValidLabelValue(val); len(errs) > 0 {
				return nil, fmt.Errorf("%s: value %q: %s", name, val, errs[0])
			}
		}
		out[k] = val
	}
	return out, nil
}
