package main

import (
	"errors"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/enclave-sandbox/enclave/sdk"
)

func baseSpec() sdk.Spec {
	return sdk.Spec{Name: "sandbox-abc", Image: "localhost/img:1", MemoryBytes: 512 << 20, CPUs: 1.5, PidsLimit: 256, DiskBytes: 1 << 30,
		Labels: map[string]string{"ms-enclave": "true", "enclave.id": "abc", "enclave.config": `{"image": "x"}`}}
}

func TestPodFor(t *testing.T) {
	cfg := Config{Namespace: "ns", PullPolicy: corev1.PullNever, RequestFraction: 0.5, RuntimeClass: "gvisor",
		NodeSelector: map[string]string{"pool": "sandboxes"}, Annotations: map[string]string{"team": "rl"}}
	tests := []struct {
		name  string
		spec  func(*sdk.Spec)
		check func(t *testing.T, p *corev1.Pod)
	}{
		{"hardened by default", nil, func(t *testing.T, p *corev1.Pod) {
			c := p.Spec.Containers[0]
			sc := c.SecurityContext
			if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.Privileged != nil {
				t.Errorf("security context %+v: want no privilege escalation, not privileged", sc)
			}
			if !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || !slices.Equal(sc.Capabilities.Add, keptCaps) {
				t.Errorf("capabilities %+v", sc.Capabilities)
			}
			if p.Spec.SecurityContext.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
				t.Errorf("seccomp %+v", p.Spec.SecurityContext.SeccompProfile)
			}
			if *p.Spec.AutomountServiceAccountToken || *p.Spec.EnableServiceLinks || p.Spec.HostNetwork || p.Spec.HostPID || p.Spec.HostIPC {
				t.Errorf("service account token, service links or host namespaces given: %+v", p.Spec)
			}
			if len(p.Spec.Volumes) != 0 || p.Spec.RestartPolicy != corev1.RestartPolicyNever || !*p.Spec.ShareProcessNamespace {
				t.Errorf("volumes %v restart %s shareProcessNamespace %v", p.Spec.Volumes, p.Spec.RestartPolicy, *p.Spec.ShareProcessNamespace)
			}
			if p.Labels[labelNetwork] != "none" || p.Labels[labelManaged] != "true" {
				t.Errorf("labels %v: want managed and network none", p.Labels)
			}
		}},
		{"limits and requests", nil, func(t *testing.T, p *corev1.Pod) {
			r := p.Spec.Containers[0].Resources
			want := corev1.ResourceRequirements{
				Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi"), corev1.ResourceCPU: resource.MustParse("1500m"),
					corev1.ResourceEphemeralStorage: resource.MustParse("1Gi")},
				Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi"), corev1.ResourceCPU: resource.MustParse("750m"),
					corev1.ResourceEphemeralStorage: resource.MustParse("512Mi")},
			}
			for _, l := range []struct{ got, want corev1.ResourceList }{{r.Limits, want.Limits}, {r.Requests, want.Requests}} {
				for k, q := range l.want {
					if g := l.got[k]; g.Cmp(q) != 0 {
						t.Errorf("%s = %s, want %s", k, g.String(), q.String())
					}
				}
			}
		}},
		{"labels that are not label values ride in annotations", nil, func(t *testing.T, p *corev1.Pod) {
			if p.Labels["enclave.id"] != "abc" || p.Labels["enclave.config"] != "" {
				t.Errorf("labels %v", p.Labels)
			}
			if got := mergeLabels(p.Labels, p.Annotations); !cmp.Equal(got, baseSpec().Labels) {
				t.Errorf("labels read back: %s", cmp.Diff(baseSpec().Labels, got))
			}
			if p.Annotations["team"] != "rl" {
				t.Errorf("operator annotation missing: %v", p.Annotations)
			}
		}},
		{"operator placement", nil, func(t *testing.T, p *corev1.Pod) {
			if *p.Spec.RuntimeClassName != "gvisor" || p.Spec.NodeSelector["pool"] != "sandboxes" || p.Namespace != "ns" ||
				p.Spec.Containers[0].ImagePullPolicy != corev1.PullNever {
				t.Errorf("placement: %+v", p.Spec)
			}
		}},
		{"image command gets a terminal", nil, func(t *testing.T, p *corev1.Pod) {
			c := p.Spec.Containers[0]
			if !c.TTY || !c.Stdin || c.Command != nil || c.Args != nil {
				t.Errorf("tty %v stdin %v command %v args %v", c.TTY, c.Stdin, c.Command, c.Args)
			}
		}},
		{"command replaces the image's command", func(s *sdk.Spec) { s.Command = []string{"sleep", "inf"} }, func(t *testing.T, p *corev1.Pod) {
			c := p.Spec.Containers[0]
			if c.TTY || c.Command != nil || !slices.Equal(c.Args, []string{"sleep", "inf"}) {
				t.Errorf("tty %v command %v args %v", c.TTY, c.Command, c.Args)
			}
		}},
		{"entrypoint and command", func(s *sdk.Spec) {
			s.Entrypoint, s.EntrypointSet, s.Command = []string{"/bin/sh", "-c"}, true, []string{"sleep inf"}
		}, func(t *testing.T, p *corev1.Pod) {
			c := p.Spec.Containers[0]
			if !slices.Equal(c.Command, []string{"/bin/sh", "-c"}) || !slices.Equal(c.Args, []string{"sleep inf"}) {
				t.Errorf("command %v args %v", c.Command, c.Args)
			}
		}},
		{"empty entrypoint with a command runs the command alone", func(s *sdk.Spec) {
			s.EntrypointSet, s.Command = true, []string{"sleep", "inf"}
		}, func(t *testing.T, p *corev1.Pod) {
			if c := p.Spec.Containers[0]; !slices.Equal(c.Command, []string{"sleep", "inf"}) || c.Args != nil {
				t.Errorf("command %v args %v", c.Command, c.Args)
			}
		}},
		{"network asked for", func(s *sdk.Spec) { s.NetworkEnabled = true }, func(t *testing.T, p *corev1.Pod) {
			if _, ok := p.Labels[labelNetwork]; ok {
				t.Errorf("network label on a sandbox with network: %v", p.Labels)
			}
		}},
		{"privileged when the operator allowed it", func(s *sdk.Spec) { s.Privileged = true }, func(t *testing.T, p *corev1.Pod) {
			sc := p.Spec.Containers[0].SecurityContext
			if !*sc.Privileged || sc.Capabilities != nil {
				t.Errorf("security context %+v", sc)
			}
		}},
		{"hosts, env, platform, mounts", func(s *sdk.Spec) {
			s.ExtraHosts = map[string]string{"b": "10.0.0.1", "a": "10.0.0.1"}
			s.Env = map[string]string{"Z": "1", "A": "2"}
			s.Platform = "linux/arm64"
			s.Mounts = []sdk.Mount{{HostPath: "/data", ContainerPath: "/mnt", ReadOnly: true}}
		}, func(t *testing.T, p *corev1.Pod) {
			if want := []corev1.HostAlias{{IP: "10.0.0.1", Hostnames: []string{"a", "b"}}}; !cmp.Equal(p.Spec.HostAliases, want) {
				t.Errorf("host aliases %v", p.Spec.HostAliases)
			}
			if e := p.Spec.Containers[0].Env; len(e) != 2 || e[0].Name != "A" || e[1].Name != "Z" {
				t.Errorf("env %v", e)
			}
			if p.Spec.NodeSelector["kubernetes.io/arch"] != "arm64" || p.Spec.NodeSelector["pool"] != "sandboxes" {
				t.Errorf("node selector %v", p.Spec.NodeSelector)
			}
			if v := p.Spec.Volumes; len(v) != 1 || v[0].HostPath.Path != "/data" || !p.Spec.Containers[0].VolumeMounts[0].ReadOnly {
				t.Errorf("volumes %v", v)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := baseSpec()
			if tt.spec != nil {
				tt.spec(&s)
			}
			p, err := podFor(s, cfg)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, p)
		})
	}
}

func TestPodForRefuses(t *testing.T) {
	tests := []struct {
		name string
		spec func(*sdk.Spec)
	}{
		{"no memory limit", func(s *sdk.Spec) { s.MemoryBytes = 0 }},
		{"no pids limit", func(s *sdk.Spec) { s.PidsLimit = 0 }},
		{"published ports", func(s *sdk.Spec) { s.Ports = []sdk.Port{{ContainerPort: "80/tcp"}} }},
		{"a named network", func(s *sdk.Spec) { s.NetworkEnabled, s.Network = true, "custom" }},
		{"an empty entrypoint without a command", func(s *sdk.Spec) { s.EntrypointSet = true }},
	}
	for _, tt := range tests {
		s := baseSpec()
		tt.spec(&s)
		if _, err := podFor(s, Config{}); !errors.Is(err, sdk.ErrInvalidArgument) {
			t.Errorf("%s: err %v, want sdk.ErrInvalidArgument", tt.name, err)
		}
	}
}

func TestStateOf(t *testing.T) {
	running := corev1.ContainerStatus{Name: containerName, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
	oom := corev1.ContainerStatus{Name: containerName, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled"}}}
	now := metav1.Now()
	tests := []struct {
		name   string
		pod    corev1.Pod
		status string
		code   int
		oom    bool
	}{
		{"pending", corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending}}, "created", 0, false},
		{"running", corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{running}}}, "running", 0, false},
		{"oom killed", corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: []corev1.ContainerStatus{oom}}}, "exited", 137, true},
		{"failed without status", corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodFailed}}, "exited", -1, false},
		{"being deleted", corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &now},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{running}}}, "removing", 0, false},
	}
	for _, tt := range tests {
		tt.pod.Name = "p"
		st := stateOf(&tt.pod)
		if st.Status != tt.status || st.ExitCode != tt.code || st.OOMKilled != tt.oom || st.ContainerID != "p" || st.Name != "p" {
			t.Errorf("%s: %+v, want %s %d oom %v", tt.name, st, tt.status, tt.code, tt.oom)
		}
	}
	p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "spare-x", Labels: map[string]string{labelName: "sandbox-x", labelManaged: "true", "k": "v"}}}
	if st := stateOf(&p); st.Name != "sandbox-x" || !cmp.Equal(st.Labels, map[string]string{"k": "v"}) {
		t.Errorf("relabelled pod: name %q labels %v", st.Name, st.Labels)
	}
}

func TestDenyAllPolicy(t *testing.T) {
	p := denyAllPolicy("ns")
	if len(p.Spec.Ingress) != 0 || len(p.Spec.Egress) != 0 || len(p.Spec.PolicyTypes) != 2 || p.Spec.PodSelector.MatchLabels[labelNetwork] != "none" {
		t.Errorf("policy %+v: want both directions denied for network=none pods", p.Spec)
	}
}

func TestPodOwner(t *testing.T) {
	owner, err := ownerFromEnv("enclave-7c9-abcde", "3f1c2b8e-7a9d-4c1e-9b2a-0d5e6f7a8b9c")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		owner     *metav1.OwnerReference
		spec      func(*sdk.Spec)
		wantOwned bool
	}{
		{"plain sandbox outlives its replica", owner, nil, false},
		{"pool member", owner, func(s *sdk.Spec) { s.Labels[sdk.LabelPool] = "true" }, true},
		{"unclaimed spare", owner, func(s *sdk.Spec) { s.Name = sdk.SparePrefix + "abc" }, true},
		{"not a pool member", owner, func(s *sdk.Spec) { s.Labels[sdk.LabelPool] = "false" }, false},
		{"outside a cluster", nil, func(s *sdk.Spec) { s.Labels[sdk.LabelPool] = "true" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := baseSpec()
			if tt.spec != nil {
				tt.spec(&s)
			}
			p, err := podFor(s, Config{Namespace: "ns", RequestFraction: 1, Owner: tt.owner})
			if err != nil {
				t.Fatal(err)
			}
			if got := len(p.OwnerReferences) == 1 && p.OwnerReferences[0] == *owner; got != tt.wantOwned || len(p.OwnerReferences) > 1 {
				t.Errorf("owner references %+v, want owned %v", p.OwnerReferences, tt.wantOwned)
			}
		})
	}
}
