package main

import (
	"context"
	"fmt"

	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// policyName is the namespace's NetworkPolicy that takes every network
// away (ingress and egress) from sandbox pods labelled network=none.
const policyName = "enclave-sandbox-no-network"

// denyAllPolicy selects the sandboxes without network and allows nothing.
func denyAllPolicy(ns string) *networkingv1.NetworkPolicy {
	return &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: policyName, Namespace: ns, Labels: map[string]string{labelManaged: "true"}},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{labelManaged: "true", labelNetwork: "none"}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
		},
	}
}

// ensurePolicy creates the deny-all policy once per plugin process (an
// existing one, another replica's, is kept).
func (k *Kubernetes) ensurePolicy(ctx context.Context) error {
	k.mu.Lock()
	done := k.policy
	k.mu.Unlock()
	if done {
		return nil
	}
	_, err := k.cs.NetworkingV1().NetworkPolicies(k.cfg.Namespace).Create(ctx, denyAllPolicy(k.cfg.Namespace), metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create the no-network NetworkPolicy: %w", mapErr(err, "network policy"))
	}
	k.mu.Lock()
	k.policy = true
	k.mu.Unlock()
	return nil
}
