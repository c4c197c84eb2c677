package main

// The pod of a sandbox, decided here from sdk.Spec and the operator's
// settings without a cluster, so these rules are unit-tested by plain go
// test.

import (
	"fmt"
	"math"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/enclave-sandbox/enclave/sdk"
)

// containerName is the one container of a sandbox pod.
const containerName = "sandbox"

// keptCaps are the capabilities a non-privileged sandbox keeps, the same
// set as the Podman backend's (README, "Security"); all others are dropped.
var keptCaps = []corev1.Capability{"CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "NET_BIND_SERVICE"}

// stopGraceSeconds is every sandbox pod's termination grace: the kubelet,
// not this plugin, times SIGTERM to SIGKILL, and the field is immutable.
const stopGraceSeconds = 2

// podFor decides a sandbox's pod. It refuses a spec without memory, CPU
// and pids limits (no sandbox runs unbounded, whatever the caller forgot),
// and what a pod cannot express.
func podFor(s sdk.Spec, cfg Config) (*corev1.Pod, error) {
	if s.MemoryBytes <= 0 || s.CPUs <= 0 || s.PidsLimit <= 0 {
		return nil, fmt.Errorf("refusing a sandbox without memory, CPU and pids limits (memory %d, cpus %g, pids %d): %w",
			s.MemoryBytes, s.CPUs, s.PidsLimit, sdk.ErrInvalidArgument)
	}
	if len(s.Ports) > 0 {
		return nil, fmt.Errorf("publishing ports is not supported by the kubernetes backend (expose the pod with a Service instead): %w", sdk.ErrInvalidArgument)
	}
	if s.NetworkEnabled && s.Network != "" && s.Network != "bridge" && s.Network != "default" {
		return nil, fmt.Errorf("network %q: the kubernetes backend has only the pod network (network_enabled without a name): %w", s.Network, sdk.ErrInvalidArgument)
	}
	labels, annotations, err := splitLabels(s.Labels)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", err, sdk.ErrInvalidArgument)
	}
	labels[labelManaged] = "true"
	if !s.NetworkEnabled {
		labels[labelNetwork] = "none"
	}
	for k, v := range cfg.Annotations {
		if _, ours := annotations[k]; !ours {
			annotations[k] = v
		}
	}
	c := corev1.Container{
		Name: containerName, Image: s.Image, ImagePullPolicy: cfg.PullPolicy, WorkingDir: s.WorkingDir,
		Env: envVars(s.Env), Resources: resources(s, cfg.RequestFraction),
	}
	switch {
	case s.EntrypointSet && len(s.Entrypoint) > 0:
		c.Command, c.Args = s.Entrypoint, s.Command
	case s.EntrypointSet && len(s.Command) > 0:
		c.Command = s.Command
	case s.EntrypointSet:
		// A pod cannot clear the image's entrypoint and keep its command:
		// the command is in the image, which the API server cannot read.
		return nil, fmt.Errorf("an empty entrypoint needs a command on the kubernetes backend: %w", sdk.ErrInvalidArgument)
	default:
		c.Args = s.Command
	}
	// The image's default command (a REPL, a shell) gets a terminal and
	// open stdin, so it stays alive until the sandbox is stopped.
	c.TTY, c.Stdin = len(s.Command) == 0, len(s.Command) == 0
	no, yes := false, true
	if s.Privileged {
		c.SecurityContext = &corev1.SecurityContext{Privileged: &yes, AllowPrivilegeEscalation: &yes}
	} else {
		c.SecurityContext = &corev1.SecurityContext{AllowPrivilegeEscalation: &no,
			Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}, Add: keptCaps}}
	}
	grace := int64(stopGraceSeconds)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: s.Name, Namespace: cfg.Namespace, Labels: labels, Annotations: annotations},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			AutomountServiceAccountToken:  &no,
			EnableServiceLinks:            &no,
			TerminationGracePeriodSeconds: &grace,
			// The pause process is PID 1 and reaps what calls leave behind;
			// the sandbox's command is not PID 1, so SIGTERM stops it.
			ShareProcessNamespace: &yes,
			SecurityContext: &corev1.PodSecurityContext{
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			NodeSelector: cfg.NodeSelector,
			Tolerations:  cfg.Tolerations,
			Containers:   []corev1.Container{c},
		},
	}
	if cfg.Owner != nil && s.Disposable() {
		pod.OwnerReferences = []metav1.OwnerReference{*cfg.Owner}
	}
	if cfg.RuntimeClass != "" {
		pod.Spec.RuntimeClassName = &cfg.RuntimeClass
	}
	if cfg.UserNamespaces && !s.Privileged {
		pod.Spec.HostUsers = &no
	}
	if s.Platform != "" {
		osName, arch, _ := strings.Cut(s.Platform, "/")
		arch, _, _ = strings.Cut(arch, "/")
		sel := map[string]string{"kubernetes.io/os": osName}
		if arch != "" {
			sel["kubernetes.io/arch"] = arch
		}
		for k, v := range cfg.NodeSelector {
			sel[k] = v
		}
		pod.Spec.NodeSelector = sel
	}
	hosts := map[string][]string{}
	for h, ip := range s.ExtraHosts {
		hosts[ip] = append(hosts[ip], h)
	}
	for ip, names := range hosts {
		sort.Strings(names)
		pod.Spec.HostAliases = append(pod.Spec.HostAliases, corev1.HostAlias{IP: ip, Hostnames: names})
	}
	sort.Slice(pod.Spec.HostAliases, func(i, j int) bool { return pod.Spec.HostAliases[i].IP < pod.Spec.HostAliases[j].IP })
	for i, m := range s.Mounts {
		// Only mounts the operator allowed reach a backend (--allow-volume).
		name := fmt.Sprintf("host-%d", i)
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: name,
			VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: m.HostPath}}})
		pod.Spec.Containers[0].VolumeMounts = append(pod.Spec.Containers[0].VolumeMounts,
			corev1.VolumeMount{Name: name, MountPath: m.ContainerPath, ReadOnly: m.ReadOnly})
	}
	return pod, nil
}

func envVars(env map[string]string) []corev1.EnvVar {
	out := make([]corev1.EnvVar, 0, len(env))
	for k, v := range env {
		out = append(out, corev1.EnvVar{Name: k, Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// resources: the limits are the sandbox's (memory, CPU, and its disk limit
// as ephemeral-storage); the requests, what the scheduler reserves, are
// fraction of them (an operator setting: 1 reserves everything, and a
// node then holds as many sandboxes as the limits fit).
func resources(s sdk.Spec, fraction float64) corev1.ResourceRequirements {
	if fraction <= 0 || fraction > 1 {
		fraction = 1
	}
	cpu := int64(math.Ceil(s.CPUs * 1000))
	lim := corev1.ResourceList{
		corev1.ResourceMemory: *resource.NewQuantity(s.MemoryBytes, resource.BinarySI),
		corev1.ResourceCPU:    *resource.NewMilliQuantity(cpu, resource.DecimalSI),
	}
	req := corev1.ResourceList{
		corev1.ResourceMemory: *resource.NewQuantity(max(int64(float64(s.MemoryBytes)*fraction), 1<<20), resource.BinarySI),
		corev1.ResourceCPU:    *resource.NewMilliQuantity(max(int64(float64(cpu)*fraction), 1), resource.DecimalSI),
	}
	if s.DiskBytes > 0 {
		lim[corev1.ResourceEphemeralStorage] = *resource.NewQuantity(s.DiskBytes, resource.BinarySI)
		req[corev1.ResourceEphemeralStorage] = *resource.NewQuantity(max(int64(float64(s.DiskBytes)*fraction), 1<<20), resource.BinarySI)
	}
	return corev1.ResourceRequirements{Limits: lim, Requests: req}
}

// stateOf is what enclave knows of a pod: running only while its container
// runs; a pod that ended is "exited" with its exit code; a pod not yet
// running is "created" (re-adoption removes those: their create was
// interrupted).
func stateOf(p *corev1.Pod) sdk.State {
	st := sdk.State{ContainerID: p.Name, Name: p.Name, Labels: mergeLabels(p.Labels, p.Annotations), Status: "created", ExitCode: 0}
	if n := p.Labels[labelName]; n != "" {
		st.Name = n
	}
	if len(p.Spec.Containers) > 0 {
		st.Image = p.Spec.Containers[0].Image
	}
	var cs *corev1.ContainerStatus
	for i := range p.Status.ContainerStatuses {
		if p.Status.ContainerStatuses[i].Name == containerName {
			cs = &p.Status.ContainerStatuses[i]
		}
	}
	switch {
	case p.DeletionTimestamp != nil:
		st.Status = "removing"
	case cs != nil && cs.State.Terminated != nil:
		st.Status = "exited"
		st.ExitCode = int(cs.State.Terminated.ExitCode)
		st.OOMKilled = cs.State.Terminated.Reason == "OOMKilled"
	case p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed:
		st.Status, st.ExitCode = "exited", -1
	case cs != nil && cs.State.Running != nil && p.Status.Phase == corev1.PodRunning:
		st.Status = "running"
	}
	return st
}
