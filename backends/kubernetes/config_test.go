package main

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestConfigFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	cfg, err := configFromEnv(env(nil))
	if err != nil || cfg.Namespace != "default" || cfg.PullPolicy != corev1.PullIfNotPresent || cfg.RequestFraction != defaultRequestFraction ||
		cfg.Types[0] != TypeKubernetes || len(cfg.Types) < 2 {
		t.Errorf("defaults: %+v, %v", cfg, err)
	}
	cfg, err = configFromEnv(env(map[string]string{"ENCLAVE_K8S_NAMESPACE": "sandboxes", "ENCLAVE_K8S_PULL_POLICY": "Never",
		"ENCLAVE_K8S_NODE_SELECTOR": "pool=sb, zone=a", "ENCLAVE_K8S_TOLERATIONS": `[{"key":"sb","operator":"Exists","effect":"NoSchedule"}]`,
		"ENCLAVE_K8S_REQUEST_FRACTION": "0.5", "ENCLAVE_K8S_USER_NAMESPACES": "true", "ENCLAVE_K8S_RUNTIME_CLASS": "gvisor",
		"ENCLAVE_K8S_ANNOTATIONS": "team=rl", "ENCLAVE_K8S_OWNER_POD": "enclave-5d9f-x2", "ENCLAVE_K8S_OWNER_UID": "3f1c2b8e-7a9d-4c1e-9b2a-0d5e6f7a8b9c"}))
	if err != nil || cfg.Namespace != "sandboxes" || cfg.PullPolicy != corev1.PullNever || cfg.NodeSelector["zone"] != "a" ||
		len(cfg.Tolerations) != 1 || cfg.RequestFraction != 0.5 || !cfg.UserNamespaces || cfg.RuntimeClass != "gvisor" || cfg.Annotations["team"] != "rl" ||
		cfg.Owner == nil || cfg.Owner.Kind != "Pod" || cfg.Owner.Name != "enclave-5d9f-x2" || string(cfg.Owner.UID) != "3f1c2b8e-7a9d-4c1e-9b2a-0d5e6f7a8b9c" ||
		cfg.Owner.BlockOwnerDeletion == nil || *cfg.Owner.BlockOwnerDeletion {
		t.Errorf("set: %+v, %v", cfg, err)
	}
	for _, bad := range []map[string]string{
		{"ENCLAVE_K8S_NAMESPACE": "Not_A_Namespace"},
		{"ENCLAVE_K8S_PULL_POLICY": "Sometimes"},
		{"ENCLAVE_K8S_NODE_SELECTOR": "novalue"},
		{"ENCLAVE_K8S_NODE_SELECTOR": "k=not a label value"},
		{"ENCLAVE_K8S_TOLERATIONS": "{"},
		{"ENCLAVE_K8S_REQUEST_FRACTION": "2"},
		{"ENCLAVE_K8S_USER_NAMESPACES": "perhaps"},
		{"ENCLAVE_K8S_RUNTIME_CLASS": "UPPER"},
		{"ENCLAVE_K8S_OWNER_POD": "enclave-1"},
		{"ENCLAVE_K8S_OWNER_UID": "3f1c2b8e-7a9d-4c1e-9b2a-0d5e6f7a8b9c"},
		{"ENCLAVE_K8S_OWNER_POD": "enclave-1", "ENCLAVE_K8S_OWNER_UID": "not-a-uid"},
		{"ENCLAVE_K8S_OWNER_POD": "Bad_Name", "ENCLAVE_K8S_OWNER_UID": "3f1c2b8e-7a9d-4c1e-9b2a-0d5e6f7a8b9c"},
	} {
		if _, err := configFromEnv(env(bad)); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
