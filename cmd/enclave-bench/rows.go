//go:build remote

package main

import (
	"fmt"
	"slices"
	"strings"
)

// rowGroups are the groups of rows --rows can pick, so one path can be
// measured again quickly while it is being worked on.
var rowGroups = []string{"cold", "warm", "files", "pool", "batch", "snapshots", "spares", "memory", "interactive", "kube"}

// picked is the groups --rows chose (nil: all).
var picked []string

func selectRows(list string) error {
	if list == "" {
		return nil
	}
	for _, g := range strings.Split(list, ",") {
		g = strings.TrimSpace(g)
		if !slices.Contains(rowGroups, g) {
			return fmt.Errorf("unknown group %q (groups: %s)", g, strings.Join(rowGroups, ", "))
		}
		picked = append(picked, g)
	}
	return nil
}

// want reports whether a group of rows is measured in this run.
func want(group string) bool { return picked == nil || slices.Contains(picked, group) }
