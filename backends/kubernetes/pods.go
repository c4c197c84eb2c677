package main

// Creating, inspecting, listing, stopping, removing and relabelling pods.

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/enclave-sandbox/enclave/sdk"
)

// Create implements backend.Backend: the pod is created and Create returns
// once the watch sees its container running (so List already has it).
func (k *Kubernetes) Create(ctx context.Context, s sdk.Spec, startTimeout time.Duration) (sdk.State, error) {
	if err := k.connect(ctx); err != nil {
		return sdk.State{}, err
	}
	pod, err := podFor(s, k.cfg)
	if err != nil {
		return sdk.State{}, err
	}
	if !s.NetworkEnabled {
		if err := k.ensurePolicy(ctx); err != nil {
			return sdk.State{}, err
		}
	}
	created, err := k.cs.CoreV1().Pods(k.cfg.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		return sdk.State{}, fmt.Errorf("%w: %w", mapErr(err, "create pod"), sdk.ErrStartFailed)
	}
	if startTimeout <= 0 {
		startTimeout = 30 * time.Second
	}
	st, err := k.waitRunning(ctx, created.Name, startTimeout)
	if err != nil {
		// A failed create leaves no pod behind.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if rerr := k.remove(rctx, created.Name); rerr != nil {
			slog.Warn("remove after failed start", "pod", created.Name, "err", rerr)
		}
		return sdk.State{}, err
	}
	return st, nil
}

// imageErrors are container waiting reasons that no wait will cure.
var imageErrors = map[string]bool{"ErrImageNeverPull": true, "ErrImagePull": true, "ImagePullBackOff": true, "InvalidImageName": true}

var startErrors = map[string]bool{"CreateContainerConfigError": true, "CreateContainerError": true, "RunContainerError": true,
	"CrashLoopBackOff": true, "StartError": true}

// waitRunning waits, on the watch's events, until pod name runs, fails,
// or the bound passes.
func (k *Kubernetes) waitRunning(ctx context.Context, name string, bound time.Duration) (sdk.State, error) {
	t := time.NewTimer(bound)
	defer t.Stop()
	last := "not seen yet"
	for {
		p, changed := k.cached(name)
		if p != nil {
			st := stateOf(p)
			switch st.Status {
			case "running":
				return st, nil
			case "exited", "removing":
				return sdk.State{}, fmt.Errorf("pod %s ended at start (exit code %d%s): %w", name, st.ExitCode, terminatedMessage(p), sdk.ErrStartFailed)
			}
			for _, cs := range p.Status.ContainerStatuses {
				if w := cs.State.Waiting; w != nil {
					if imageErrors[w.Reason] {
						return sdk.State{}, fmt.Errorf("image %s: %s: %s: %w", p.Spec.Containers[0].Image, w.Reason, w.Message, sdk.ErrImageNotFound)
					}
					if startErrors[w.Reason] {
						return sdk.State{}, fmt.Errorf("pod %s: %s: %s: %w", name, w.Reason, w.Message, sdk.ErrStartFailed)
					}
					last = w.Reason
				}
			}
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Message != "" {
					last = "not scheduled: " + c.Message
				}
			}
			if last == "not seen yet" {
				last = string(p.Status.Phase)
			}
		}
		select {
		case <-changed:
		case <-t.C:
			return sdk.State{}, fmt.Errorf("pod %s not running after %s (%s): %w", name, bound, last, sdk.ErrStartFailed)
		case <-ctx.Done():
			return sdk.State{}, fmt.Errorf("pod %s: %w", name, ctx.Err())
		}
	}
}

func terminatedMessage(p *corev1.Pod) string {
	for _, cs := range p.Status.ContainerStatuses {
		if t := cs.State.Terminated; t != nil && (t.Reason != "" || t.Message != "") {
			return ", " + strings.TrimSpace(t.Reason+" "+t.Message)
		}
	}
	return ""
}

// Inspect implements backend.Backend. It asks the API server, not the
// watch: a caller inspects to learn what is true now.
func (k *Kubernetes) Inspect(ctx context.Context, ref string) (sdk.State, error) {
	if err := k.connect(ctx); err != nil {
		return sdk.State{}, err
	}
	p, err := k.cs.CoreV1().Pods(k.cfg.Namespace).Get(ctx, ref, metav1.GetOptions{})
	if err != nil {
		return sdk.State{}, mapErr(err, "inspect pod")
	}
	if p.Labels[labelManaged] != "true" {
		return sdk.State{}, fmt.Errorf("pod %s is not an enclave sandbox: %w", ref, sdk.ErrSandboxNotFound)
	}
	return stateOf(p), nil
}

// List implements backend.Backend from the watch's cache: cheap enough to
// be called every second by every replica.
func (k *Kubernetes) List(ctx context.Context, want map[string]string) ([]sdk.State, error) {
	if err := k.connect(ctx); err != nil {
		return nil, err
	}
	pods, err := k.listCached(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}
	out := make([]sdk.State, 0, len(pods))
	for _, p := range pods {
		st := stateOf(p)
		match := true
		for key, v := range want {
			if st.Labels[key] != v {
				match = false
				break
			}
		}
		if match {
			out = append(out, st)
		}
	}
	return out, nil
}

// Stop implements backend.Backend. A pod cannot be stopped and kept, but
// its deadline can be brought forward: the kubelet then stops it (SIGTERM,
// SIGKILL after the pod's grace) and the pod stays, ended, until removed.
// grace is the pod's own (stopGraceSeconds): the kubelet times it.
func (k *Kubernetes) Stop(ctx context.Context, ref string, grace time.Duration) error {
	if err := k.connect(ctx); err != nil {
		return err
	}
	st, err := k.Inspect(ctx, ref)
	if err != nil {
		return err
	}
	if st.Status != "running" && st.Status != "created" {
		return nil
	}
	patch := []byte(`{"spec":{"activeDeadlineSeconds":1}}`)
	if _, err := k.cs.CoreV1().Pods(k.cfg.Namespace).Patch(ctx, ref, types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return mapErr(err, "stop pod")
	}
	bound := time.NewTimer(stopGraceSeconds*time.Second + max(grace, 0) + 30*time.Second)
	defer bound.Stop()
	for {
		p, changed := k.cached(ref)
		if p == nil {
			return nil
		}
		if st := stateOf(p); st.Status != "running" && st.Status != "created" {
			return nil
		}
		select {
		case <-changed:
		case <-bound.C:
			return fmt.Errorf("pod %s still running after its stop deadline: %w", ref, sdk.ErrUnavailable)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// remove deletes a pod at once (grace 0: it is being discarded).
func (k *Kubernetes) remove(ctx context.Context, ref string) error {
	zero := int64(0)
	err := k.cs.CoreV1().Pods(k.cfg.Namespace).Delete(ctx, ref, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	if err = mapErr(err, "remove pod"); err != nil && !isNotFound(err) {
		return err
	}
	return nil
}

// Remove implements backend.Backend.
func (k *Kubernetes) Remove(ctx context.Context, ref string) error {
	if err := k.connect(ctx); err != nil {
		return err
	}
	return k.remove(ctx, ref)
}

// Rename implements backend.Renamer. Pod names are immutable; labels are
// not, so a sandbox's name is a label (State.Name reads it). A claimed
// spare is no longer disposable: the same patch drops its owner, so it
// outlives the replica that made it.
func (k *Kubernetes) Rename(ctx context.Context, ref, name string) error {
	if err := k.connect(ctx); err != nil {
		return err
	}
	meta := map[string]any{"labels": map[string]string{labelName: name}}
	if !strings.HasPrefix(name, sdk.SparePrefix) {
		meta["ownerReferences"] = nil
	}
	patch, _ := json.Marshal(map[string]any{"metadata": meta})
	_, err := k.cs.CoreV1().Pods(k.cfg.Namespace).Patch(ctx, ref, types.MergePatchType, patch, metav1.PatchOptions{})
	return mapErr(err, "relabel pod")
}
