package mcp

import (
	"context"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/volant-sh/volant/sandbox"
)

// SandboxRef names one sandbox.
type SandboxRef struct {
	SandboxID string `json:"sandbox_id" jsonschema:"id (or name) of the sandbox, as returned by sandbox_create or sandbox_list"`
}

// CreateInput is the input of sandbox_create: the engine's create
// request as it is.
type CreateInput = sandbox.Spec

// ListInput is the input of sandbox_list.
type ListInput struct {
	State   string            `json:"state,omitempty" jsonschema:"only sandboxes in this state: creating, running, paused, stopped, failed, deleting or hibernated"`
	Runtime string            `json:"runtime,omitempty" jsonschema:"only sandboxes of this runtime"`
	Labels  map[string]string `json:"labels,omitempty" jsonschema:"only sandboxes with all of these labels"`
	Limit   int               `json:"limit,omitempty" jsonschema:"page size; 0 means 100, at most 1000"`
	Cursor  string            `json:"cursor,omitempty" jsonschema:"continue after the page that returned this value as next"`
}

// ListOutput is the output of sandbox_list.
type ListOutput struct {
	Sandboxes []*sandbox.Sandbox `json:"sandboxes" jsonschema:"the sandboxes, oldest first"`
	Next      string             `json:"next,omitempty" jsonschema:"pass as cursor for the next page; empty on the last page"`
}

// DeleteOutput is the output of the delete tools.
type DeleteOutput struct {
	Deleted string `json:"deleted" jsonschema:"id of what was deleted"`
}

// ForkInput is the input of sandbox_fork.
type ForkInput struct {
	SandboxID string `json:"sandbox_id" jsonschema:"id of the sandbox to fork"`
	sandbox.ForkRequest
}

// SandboxesOutput is a list of sandboxes (sandbox_fork).
type SandboxesOutput struct {
	Sandboxes []*sandbox.Sandbox `json:"sandboxes"`
}

// SnapshotRef names one snapshot.
type SnapshotRef struct {
	SnapshotID string `json:"snapshot_id" jsonschema:"id of the snapshot, as returned by sandbox_snapshot or snapshot_list"`
}

// SnapshotsOutput is the output of snapshot_list.
type SnapshotsOutput struct {
	Snapshots []*sandbox.Snapshot `json:"snapshots" jsonschema:"every snapshot, oldest first"`
}

// Empty is the input of tools without arguments.
type Empty struct{}

func ptr[T any](v T) *T { return &v }

// Hints. DestructiveHint defaults to true in the spec, so every tool that
// is not read-only says it explicitly.
var (
	readOnly    = &sdk.ToolAnnotations{ReadOnlyHint: true, OpenWorldHint: ptr(false)}
	additive    = &sdk.ToolAnnotations{DestructiveHint: ptr(false), OpenWorldHint: ptr(false)}
	idempotent  = &sdk.ToolAnnotations{DestructiveHint: ptr(false), IdempotentHint: true, OpenWorldHint: ptr(false)}
	destructive = &sdk.ToolAnnotations{DestructiveHint: ptr(true), IdempotentHint: true, OpenWorldHint: ptr(false)}
	// runs arbitrary commands in the guest: may destroy guest state and
	// reach the network.
	openEnded = &sdk.ToolAnnotations{DestructiveHint: ptr(true), OpenWorldHint: ptr(true)}
)

func (s *Server) addSandboxTools() {
	addTool(s, &sdk.Tool{Name: "sandbox_create", Title: "Create a sandbox",
		Description: "Create and start a microVM sandbox. Returns the sandbox; use its id as sandbox_id in other tools.",
		Annotations: additive},
		func(ctx context.Context, _ *sdk.CallToolRequest, in CreateInput) (*sdk.CallToolResult, *sandbox.Sandbox, error) {
			sb, err := s.eng.Create(ctx, in)
			return nil, sb, toolError(err)
		})
	addTool(s, &sdk.Tool{Name: "sandbox_list", Title: "List sandboxes",
		Description: "List sandboxes, optionally filtered by state, runtime and labels.", Annotations: readOnly},
		func(ctx context.Context, _ *sdk.CallToolRequest, in ListInput) (*sdk.CallToolResult, *ListOutput, error) {
			opts := sandbox.ListOptions{Runtime: in.Runtime, Labels: in.Labels, Limit: in.Limit, Cursor: in.Cursor}
			if in.State != "" {
				opts.States = []sandbox.State{sandbox.State(in.State)}
			}
			page, err := s.eng.List(ctx, opts)
			if err != nil {
				return nil, nil, toolError(err)
			}
			out := &ListOutput{Sandboxes: page.Items, Next: page.Next}
			if out.Sandboxes == nil {
				out.Sandboxes = []*sandbox.Sandbox{}
			}
			return nil, out, nil
		})
	addTool(s, &sdk.Tool{Name: "sandbox_get", Title: "Get a sandbox",
		Description: "Get one sandbox: state, address, spec, timestamps.", Annotations: readOnly},
		s.onSandbox(s.eng.Get))
	addTool(s, &sdk.Tool{Name: "sandbox_delete", Title: "Delete a sandbox",
		Description: "Stop a sandbox and remove it with everything in it. This cannot be undone.", Annotations: destructive},
		func(ctx context.Context, _ *sdk.CallToolRequest, in SandboxRef) (*sdk.CallToolResult, *DeleteOutput, error) {
			if err := s.eng.Delete(ctx, in.SandboxID); err != nil {
				return nil, nil, toolError(err)
			}
			return nil, &DeleteOutput{Deleted: in.SandboxID}, nil
		})
	addTool(s, &sdk.Tool{Name: "sandbox_pause", Title: "Pause a sandbox",
		Description: "Freeze a running sandbox's vCPUs; memory and processes are kept. sandbox_resume continues it.",
		Annotations: idempotent}, s.onSandbox(s.eng.Pause))
	addTool(s, &sdk.Tool{Name: "sandbox_resume", Title: "Resume a sandbox",
		Description: "Continue a paused sandbox, or wake a hibernated one.", Annotations: idempotent}, s.onSandbox(s.eng.Resume))
	addTool(s, &sdk.Tool{Name: "sandbox_hibernate", Title: "Hibernate a sandbox",
		Description: "Save an idle sandbox to disk (memory, processes, files) and end its VM, so it costs no CPU or RAM. It keeps its address; the next tool call that needs it (exec, files, processes, ports) wakes it transparently.",
		Annotations: idempotent}, s.onSandbox(s.eng.Hibernate))
	addTool(s, &sdk.Tool{Name: "sandbox_stop", Title: "Stop a sandbox",
		Description: "Power a sandbox off, keeping its record, disk and address; running processes end. sandbox_start boots it again.",
		Annotations: &sdk.ToolAnnotations{DestructiveHint: ptr(true), IdempotentHint: true, OpenWorldHint: ptr(false)}},
		s.onSandbox(s.eng.Stop))
	addTool(s, &sdk.Tool{Name: "sandbox_start", Title: "Start a sandbox",
		Description: "Boot a stopped sandbox again.", Annotations: idempotent}, s.onSandbox(s.eng.Start))
	addTool(s, &sdk.Tool{Name: "sandbox_snapshot", Title: "Snapshot a sandbox",
		Description: "Save a running or paused sandbox (memory, devices, disks); it keeps running. Create new sandboxes from it with sandbox_create from_snapshot.",
		Annotations: additive},
		func(ctx context.Context, _ *sdk.CallToolRequest, in SandboxRef) (*sdk.CallToolResult, *sandbox.Snapshot, error) {
			snap, err := s.eng.Snapshot(ctx, in.SandboxID)
			return nil, snap, toolError(err)
		})
	addTool(s, &sdk.Tool{Name: "sandbox_fork", Title: "Fork a sandbox",
		Description: "Snapshot a sandbox and start count clones of it, each with its own identity (address, hostname). Returns the clones.",
		Annotations: additive},
		func(ctx context.Context, _ *sdk.CallToolRequest, in ForkInput) (*sdk.CallToolResult, *SandboxesOutput, error) {
			sbs, err := s.eng.Fork(ctx, in.SandboxID, in.ForkRequest)
			if err != nil {
				return nil, nil, toolError(err)
			}
			return nil, &SandboxesOutput{Sandboxes: sbs}, nil
		})
	addTool(s, &sdk.Tool{Name: "snapshot_list", Title: "List snapshots",
		Description: "List every snapshot, oldest first.", Annotations: readOnly},
		func(ctx context.Context, _ *sdk.CallToolRequest, _ Empty) (*sdk.CallToolResult, *SnapshotsOutput, error) {
			snaps, err := s.eng.ListSnapshots(ctx)
			if err != nil {
				return nil, nil, toolError(err)
			}
			if snaps == nil {
				snaps = []*sandbox.Snapshot{}
			}
			return nil, &SnapshotsOutput{Snapshots: snaps}, nil
		})
	addTool(s, &sdk.Tool{Name: "snapshot_delete", Title: "Delete a snapshot",
		Description: "Delete a snapshot that no sandbox or other snapshot depends on.", Annotations: destructive},
		func(ctx context.Context, _ *sdk.CallToolRequest, in SnapshotRef) (*sdk.CallToolResult, *DeleteOutput, error) {
			if err := s.eng.DeleteSnapshot(ctx, in.SnapshotID); err != nil {
				return nil, nil, toolError(err)
			}
			return nil, &DeleteOutput{Deleted: in.SnapshotID}, nil
		})
}

// onSandbox adapts an engine call on one sandbox to a tool handler.
func (s *Server) onSandbox(call func(context.Context, string) (*sandbox.Sandbox, error)) sdk.ToolHandlerFor[SandboxRef, *sandbox.Sandbox] {
	return func(ctx context.Context, _ *sdk.CallToolRequest, in SandboxRef) (*sdk.CallToolResult, *sandbox.Sandbox, error) {
		sb, err := call(ctx, in.SandboxID)
		return nil, sb, toolError(err)
	}
}
