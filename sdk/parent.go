package sdk

import (
	"os"
	"time"
)

// WatchParent exits the process when its parent (the enclave host) is gone,
// so a plugin never outlives a host that was killed. Serve calls it.
func WatchParent() {
	ppid := os.Getppid()
	go func() {
		for range time.Tick(time.Second) {
			if os.Getppid() != ppid {
				os.Exit(0)
			}
		}
	}()
}
