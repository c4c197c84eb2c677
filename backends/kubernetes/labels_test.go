package main

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/validation"
)

func TestSplitLabels(t *testing.T) {
	in := map[string]string{"ms-enclave": "true", "enclave.config": `{"a": 1}`, "enclave.created_at": "2026-01-01T00:00:00.000000",
		"-odd key-": "x", "long": string(make([]byte, 100))}
	labels, annotations, err := splitLabels(in)
	if err != nil {
		t.Fatal(err)
	}
	if !cmp.Equal(labels, map[string]string{"ms-enclave": "true"}) {
		t.Errorf("labels %v", labels)
	}
	for k := range annotations {
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			t.Errorf("annotation key %q invalid: %v", k, errs)
		}
	}
	if got := mergeLabels(labels, annotations); !cmp.Equal(got, in) {
		t.Errorf("round trip: %s", cmp.Diff(in, got))
	}
	// Unrelated annotations are not labels.
	if got := mergeLabels(nil, map[string]string{"other/x": "1", annotationPrefix + "_zz": "bad escape"}); len(got) != 0 {
		t.Errorf("unrelated annotations read as labels: %v", got)
	}
}

// FuzzLabels: whatever labels a spec carries either round-trip through a
// pod's labels and annotations, with every key and value valid there, or
// are refused.
func FuzzLabels(f *testing.F) {
	f.Add("enclave.config", `{"image": "python:3.11-slim"}`)
	f.Add("ms-enclave", "true")
	f.Add("a_b/c", "")
	f.Add("-", "-")
	f.Fuzz(func(t *testing.T, k, v string) {
		in := map[string]string{k: v}
		labels, annotations, err := splitLabels(in)
		if err != nil {
			return
		}
		for lk, lv := range labels {
			if len(validation.IsQualifiedName(lk)) > 0 || len(validation.IsValidLabelValue(lv)) > 0 {
				t.Fatalf("invalid label %q=%q", lk, lv)
			}
		}
		for ak := range annotations {
			if len(validation.IsQualifiedName(ak)) > 0 {
				t.Fatalf("invalid annotation key %q", ak)
			}
		}
		if k == labelManaged || k == labelName || k == labelNetwork {
			return // the backend's own labels are not a spec's
		}
		if got := mergeLabels(labels, annotations); !cmp.Equal(got, in) {
			t.Fatalf("round trip of %q=%q: %v", k, v, got)
		}
	})
}
