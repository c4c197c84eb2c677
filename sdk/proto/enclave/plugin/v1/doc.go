// Package pluginv1 is the code protoc generates from plugin.proto, the
// plugin wire contract (version 1). Do not edit the *.pb.go files: change
// the proto and run make generate; make lint checks they match.
package pluginv1
