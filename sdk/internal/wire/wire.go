// Package wire converts between the sdk's Go types and the protobuf messages,
// and carries archives and sessions over gRPC streams. Shared by the backend
// and tool shims so both sides encode the contract the same way.
package wire

import (
	"time"

	"github.com/enclave-sandbox/enclave/sdk"
	pb "github.com/enclave-sandbox/enclave/sdk/proto/enclave/plugin/v1"
)

func seconds(d time.Duration) float64 { return d.Seconds() }

func duration(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// InfoToPB converts plugin info.
func InfoToPB(i sdk.Info) *pb.PluginInfo {
	return &pb.PluginInfo{Name: i.Name, Kind: i.Kind, Version: i.Version, Description: i.Description,
		ApiVersions: i.APIVersions, SchemaJson: i.Schema, SandboxTypes: i.SandboxTypes, Capabilities: i.Capabilities}
}

// InfoFromPB converts plugin info.
func InfoFromPB(p *pb.PluginInfo) sdk.Info {
	return sdk.Info{Name: p.GetName(), Kind: p.GetKind(), Version: p.GetVersion(), Description: p.GetDescription(),
		APIVersions: p.GetApiVersions(), Schema: p.GetSchemaJson(), SandboxTypes: p.GetSandboxTypes(), Capabilities: p.GetCapabilities()}
}

// ExecToPB converts an exec request addressed to ref.
func ExecToPB(ref string, r sdk.ExecRequest) *pb.ExecRequest {
	p := &pb.ExecRequest{Ref: ref, Argv: r.Argv, Env: r.Env, WorkingDir: r.WorkingDir, Stdin: r.Stdin,
		TimeoutSeconds: seconds(r.Timeout), KillGraceSeconds: seconds(r.KillGrace), MaxOutputBytes: r.MaxOutputBytes}
	return p
}

// ExecFromPB converts an exec request (its Python fields, which only the
// host's SandboxHost service reads, are PythonFromPB's).
func ExecFromPB(p *pb.ExecRequest) sdk.ExecRequest {
	return sdk.ExecRequest{Argv: p.GetArgv(), Env: p.GetEnv(), WorkingDir: p.GetWorkingDir(), Stdin: p.GetStdin(),
		Timeout: duration(p.GetTimeoutSeconds()), KillGrace: duration(p.GetKillGraceSeconds()), MaxOutputBytes: p.GetMaxOutputBytes()}
}

// PythonToPB converts a tool's RunPython request: the script rides in the
// ExecRequest's python fields.
func PythonToPB(ref, path string, src []byte, r sdk.ExecRequest) *pb.ExecRequest {
	p := ExecToPB(ref, r)
	p.Argv, p.PythonPath, p.PythonSource = nil, path, src
	return p
}

// PythonFromPB returns the script of a RunPython request; ok is false for a
// plain exec.
func PythonFromPB(p *pb.ExecRequest) (path string, src []byte, ok bool) {
	return p.GetPythonPath(), p.GetPythonSource(), p.GetPythonPath() != ""
}

// ResultToPB converts an exec result.
func ResultToPB(r sdk.ExecResult) *pb.ExecResult {
	return &pb.ExecResult{Stdout: r.Stdout, Stderr: r.Stderr, ExitCode: int32(r.ExitCode), TimedOut: r.TimedOut,
		StdoutTruncated: r.StdoutTruncated, StderrTruncated: r.StderrTruncated, Killed: r.Killed, OomKilled: r.OOMKilled}
}

// ResultFromPB converts an exec result.
func ResultFromPB(p *pb.ExecResult) sdk.ExecResult {
	return sdk.ExecResult{Stdout: p.GetStdout(), Stderr: p.GetStderr(), ExitCode: int(p.GetExitCode()), TimedOut: p.GetTimedOut(),
		StdoutTruncated: p.GetStdoutTruncated(), StderrTruncated: p.GetStderrTruncated(), Killed: p.GetKilled(), OOMKilled: p.GetOomKilled()}
}

// SpecToPB converts a sandbox spec.
func SpecToPB(s sdk.Spec) *pb.SandboxSpec {
	p := &pb.SandboxSpec{Name: s.Name, Image: s.Image, Command: s.Command, Env: s.Env, WorkingDir: s.WorkingDir,
		Limits:         &pb.Limits{MemoryBytes: s.MemoryBytes, Cpus: s.CPUs, Pids: s.PidsLimit, DiskBytes: s.DiskBytes},
		NetworkEnabled: s.NetworkEnabled, Network: s.Network, Labels: s.Labels, Privileged: s.Privileged,
		ExtraHosts: s.ExtraHosts, Platform: s.Platform, Entrypoint: s.Entrypoint, EntrypointSet: s.EntrypointSet, Boot: s.Boot}
	for _, m := range s.Mounts {
		p.Mounts = append(p.Mounts, &pb.Mount{HostPath: m.HostPath, ContainerPath: m.ContainerPath, ReadOnly: m.ReadOnly})
	}
	for _, pt := range s.Ports {
		p.Ports = append(p.Ports, &pb.PortMapping{ContainerPort: pt.ContainerPort, HostIp: pt.HostIP, HostPort: pt.HostPort})
	}
	return p
}

// SpecFromPB converts a sandbox spec.
func SpecFromPB(p *pb.SandboxSpec) sdk.Spec {
	s := sdk.Spec{Name: p.GetName(), Image: p.GetImage(), Command: p.GetCommand(), Env: p.GetEnv(), WorkingDir: p.GetWorkingDir(),
		MemoryBytes: p.GetLimits().GetMemoryBytes(), CPUs: p.GetLimits().GetCpus(), PidsLimit: p.GetLimits().GetPids(),
		DiskBytes:      p.GetLimits().GetDiskBytes(),
		NetworkEnabled: p.GetNetworkEnabled(), Network: p.GetNetwork(), Labels: p.GetLabels(), Privileged: p.GetPrivileged(),
		ExtraHosts: p.GetExtraHosts(), Platform: p.GetPlatform(), Entrypoint: p.GetEntrypoint(), EntrypointSet: p.GetEntrypointSet(), Boot: p.GetBoot()}
	for _, m := range p.GetMounts() {
		s.Mounts = append(s.Mounts, sdk.Mount{HostPath: m.GetHostPath(), ContainerPath: m.GetContainerPath(), ReadOnly: m.GetReadOnly()})
	}
	for _, pt := range p.GetPorts() {
		s.Ports = append(s.Ports, sdk.Port{ContainerPort: pt.GetContainerPort(), HostIP: pt.GetHostIp(), HostPort: pt.GetHostPort()})
	}
	return s
}

// StateToPB converts a sandbox state.
func StateToPB(s sdk.State) *pb.SandboxState {
	return &pb.SandboxState{ContainerId: s.ContainerID, Name: s.Name, Status: s.Status, Labels: s.Labels,
		ExitCode: int32(s.ExitCode), OomKilled: s.OOMKilled, Image: s.Image}
}

// StateFromPB converts a sandbox state.
func StateFromPB(p *pb.SandboxState) sdk.State {
	return sdk.State{ContainerID: p.GetContainerId(), Name: p.GetName(), Status: p.GetStatus(), Labels: p.GetLabels(),
		ExitCode: int(p.GetExitCode()), OOMKilled: p.GetOomKilled(), Image: p.GetImage()}
}

// SnapshotToPB converts a snapshot.
func SnapshotToPB(s sdk.Snapshot) *pb.SnapshotInfo {
	var created int64
	if !s.Created.IsZero() {
		created = s.Created.Unix()
	}
	return &pb.SnapshotInfo{Id: s.ID, Name: s.Name, Labels: s.Labels, SizeBytes: s.SizeBytes, CreatedUnix: created, Containers: int32(s.Containers)}
}

// SnapshotFromPB converts a snapshot.
func SnapshotFromPB(p *pb.SnapshotInfo) sdk.Snapshot {
	s := sdk.Snapshot{ID: p.GetId(), Name: p.GetName(), Labels: p.GetLabels(), SizeBytes: p.GetSizeBytes(), Containers: int(p.GetContainers())}
	if p.GetCreatedUnix() != 0 {
		s.Created = time.Unix(p.GetCreatedUnix(), 0).UTC()
	}
	return s
}
