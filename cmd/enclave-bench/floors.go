//go:build remote

package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"strconv"
	"strings"

	"github.com/containers/podman/v4/pkg/api/handlers"
	"github.com/containers/podman/v4/pkg/bindings"
	"github.com/containers/podman/v4/pkg/bindings/containers"
	"github.com/containers/podman/v4/pkg/specgen"
	docker "github.com/docker/docker/api/types"
)

type floors struct{ exec, fork, create Result }

func spec(image string) *specgen.SpecGenerator {
	g := specgen.NewSpecGenerator(image, false)
	g.Command = []string{"sleep", "infinity"}
	g.Init = true
	g.NetNS = specgen.Namespace{NSMode: specgen.NoNetwork}
	return g
}

// measureFloors measures what enclave is compared with, through the
// bindings, in this run.
func measureFloors(ctx context.Context, uri, image string) floors {
	conn, err := bindings.NewConnection(ctx, uri)
	must(err, "connect to podman for the floors")
	var f floors
	ds, wall, err := timeN(10, func() error {
		c, err := containers.CreateWithSpec(conn, spec(image), nil)
		if err != nil {
			return err
		}
		if err := containers.Start(conn, c.ID, nil); err != nil {
			return err
		}
		_, err = containers.Remove(conn, c.ID, new(containers.RemoveOptions).WithForce(true).WithTimeout(0))
		return err
	})
	must(err, "floor create")
	f.create = summarize("floor: podman create + start + remove", ds, wall)

	c, err := containers.CreateWithSpec(conn, spec(image), nil)
	must(err, "floor container")
	defer containers.Remove(conn, c.ID, new(containers.RemoveOptions).WithForce(true).WithTimeout(0))
	must(containers.Start(conn, c.ID, nil), "start floor container")
	run := func(cmd []string) (string, error) {
		id, err := containers.ExecCreate(conn, c.ID, &handlers.ExecCreateConfig{ExecConfig: docker.ExecConfig{AttachStdout: true, AttachStderr: true, Cmd: cmd}})
		if err != nil {
			return "", err
		}
		var out strings.Builder
		opts := new(containers.ExecStartAndAttachOptions).WithOutputStream(&out).WithErrorStream(io.Discard).WithAttachOutput(true).WithAttachError(true)
		if err := containers.ExecStartAndAttach(conn, id, opts); err != nil {
			return "", err
		}
		ins, err := containers.ExecInspect(conn, id, nil)
		if err == nil && ins.ExitCode != 0 {
			err = fmt.Errorf("exit %d", ins.ExitCode)
		}
		return out.String(), err
	}
	ds, wall, err = timeN(30, func() error {
		_, err := run([]string{"python3", "-c", "print(40+2)"})
		return err
	})
	must(err, "floor exec")
	f.exec = summarize("floor: podman exec python3 -c print(40+2)", ds, wall)

	// A raw fork+waitpid inside the container, timed there.
	out, err := run([]string{"python3", "-c", `import os, time
ds = []
for _ in range(200):
    t = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    ds.append(time.perf_counter() - t)
ds.sort()
print(ds[len(ds)//2], ds[int(len(ds)*0.9)], ds[int(len(ds)*0.99)])`})
	must(err, "floor fork")
	parts := strings.Fields(out)
	if len(parts) != 3 {
		log.Fatalf("floor fork: %q", out)
	}
	ms := func(s string) float64 { v, _ := strconv.ParseFloat(s, 64); return v * 1000 }
	f.fork = Result{Name: "floor: fork + waitpid inside the container", N: 200, P50ms: ms(parts[0]), P90ms: ms(parts[1]), P99ms: ms(parts[2])}
	return f
}
