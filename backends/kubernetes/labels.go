package main

// enclave's container labels on a pod. Kubernetes label values are short
// and restricted (a sandbox's config JSON is neither), so a label whose
// value is not a valid label value rides in an annotation of the same key;
// reading merges both. Keys are kept as they are: enclave's keys are valid
// label names.

import (
	"fmt"
	"maps"

	"k8s.io/apimachinery/pkg/util/validation"
)

const (
	// labelManaged marks every pod this backend created; the pod watch
	// selects on it.
	labelManaged = "enclave.managed"
	// labelName is a sandbox's name when it was renamed (pod names are
	// immutable: a claimed spare is relabelled, not renamed).
	labelName = "enclave.name"
	// labelNetwork is "none" on a sandbox without network: the namespace's
	// deny-all NetworkPolicy selects on it.
	labelNetwork = "enclave.network"
	// annotationPrefix marks the labels that live in annotations (so
	// reading picks up no unrelated annotation).
	annotationPrefix = "enclave.label/"
)

// splitLabels returns the pod labels and annotations that carry l.
func splitLabels(l map[string]string) (labels, annotations map[string]string, err error) {
	labels, annotations = map[string]string{}, map[string]string{}
	for k, v := range l {
		if k == "" {
			return nil, nil, fmt.Errorf("an empty label key cannot be stored on a pod")
		}
		if len(validation.IsQualifiedName(k)) == 0 && len(validation.IsValidLabelValue(v)) == 0 {
			labels[k] = v
			continue
		}
		a := annotationPrefix + "l" + escapeKey(k)
		if errs := validation.IsQualifiedName(a); len(errs) > 0 {
			return nil, nil, fmt.Errorf("label key %q cannot be stored on a pod: %s", k, errs[0])
		}
		annotations[a] = v
	}
	return labels, annotations, nil
}

// mergeLabels is splitLabels' inverse, without the backend's own labels.
func mergeLabels(labels, annotations map[string]string) map[string]string {
	out := maps.Clone(labels)
	if out == nil {
		out = map[string]string{}
	}
	delete(out, labelManaged)
	delete(out, labelName)
	delete(out, labelNetwork)
	for k, v := range annotations {
		if len(k) > len(annotationPrefix) && k[:len(annotationPrefix)] == annotationPrefix {
			if key, ok := unescapeKey(k[len(annotationPrefix):]); ok && key != "" {
				out[key] = v
			}
		}
	}
	return out
}

// escapeKey makes a label key a valid annotation name part (after an "l",
// so it starts alphanumeric): characters outside [A-Za-z0-9._-], and a
// trailing '.' or '-', become "_xx" (hex), "_" itself "_5f".
func escapeKey(k string) string {
	const hex = "0123456789abcdef"
	out := make([]byte, 0, len(k))
	for i := 0; i < len(k); i++ {
		c := k[i]
		inner := i < len(k)-1 // a name part ends alphanumeric
		if inner && (c == '.' || c == '-') || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
			out = append(out, c)
			continue
		}
		out = append(out, '_', hex[c>>4], hex[c&15])
	}
	return string(out)
}

func unescapeKey(s string) (string, bool) {
	if len(s) < 2 || s[0] != 'l' {
		return "", false
	}
	s = s[1:]
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '_' {
			out = append(out, s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", false
		}
		hi, ok1 := unhex(s[i+1])
		lo, ok2 := unhex(s[i+2])
		if !ok1 || !ok2 {
			return "", false
		}
		out = append(out, hi<<4|lo)
		i += 2
	}
	return string(out), true
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}
