package rest

import (
	"context"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/volant-sh/volant/errdefs"
	"github.com/volant-sh/volant/sandbox"
)

// The engine's id rule, for the documents of plain routes.
const (
	idPattern = sandbox.IDPattern
	idMaxLen  = sandbox.MaxIDLen
)

// idInput is the {id} of sandbox routes.
type idInput struct {
	ID string `path:"id" maxLength:"128" pattern:"^[A-Za-z0-9][A-Za-z0-9._-]*$" doc:"Sandbox id or name."`
}

type sandboxOutput struct {
	Body *sandbox.Sandbox
}

type createInput struct {
	Body sandbox.Spec
}

type listInput struct {
	State   []string `query:"state,explode" enum:"creating,running,paused,stopped,failed,deleting,hibernated" doc:"Only sandboxes in these states (repeat the parameter for several)."`
	Runtime string   `query:"runtime" maxLength:"64" doc:"Only sandboxes of this runtime."`
	Label   []string `query:"label,explode" doc:"Only sandboxes with this label, as key=value (repeat for several; all must match)."`
	Limit   int      `query:"limit" minimum:"0" maximum:"1000" doc:"Page size; 0 means 100."`
	Cursor  string   `query:"cursor" maxLength:"512" doc:"The next cursor of the previous page."`
}

type listOutput struct {
	Body *sandbox.ListPage
}

type forkInput struct {
	ID   string `path:"id" maxLength:"128" pattern:"^[A-Za-z0-9][A-Za-z0-9._-]*$" doc:"Sandbox id or name."`
	Body struct {
		sandbox.ForkRequest
	}
}

type sandboxesOutput struct {
	Body struct {
		Items []*sandbox.Sandbox `json:"items" doc:"The clones."`
	}
}

type snapshotOutput struct {
	Body *sandbox.Snapshot
}

func (s *server) sandboxRoutes() {
	create := op(http.MethodPost, "/v1/sandboxes", "create-sandbox", "sandboxes",
		"Create a sandbox",
		"Boots (or restores from the runtime's template snapshot) a new sandbox and answers once its agent is up.",
		http.StatusBadRequest, http.StatusConflict, http.StatusTooManyRequests, http.StatusServiceUnavailable)
	create.DefaultStatus = http.StatusCreated
	create.MaxBodyBytes = 256 << 10
	create = engineChecked(create)
	huma.Register(s.api, create, func(ctx context.Context, in *createInput) (*sandboxOutput, error) {
		sb, err := s.eng.Create(ctx, in.Body)
		if err != nil {
			return nil, s.fail(ctx, "create", err)
		}
		return &sandboxOutput{Body: sb}, nil
	})

	huma.Register(s.api, op(http.MethodGet, "/v1/sandboxes", "list-sandboxes", "sandboxes",
		"List sandboxes",
		"One page of sandboxes, oldest first. Pass the answer's next as cursor for the next page.",
		http.StatusBadRequest),
		func(ctx context.Context, in *listInput) (*listOutput, error) {
			opts := sandbox.ListOptions{Runtime: in.Runtime, Limit: in.Limit, Cursor: in.Cursor}
			for _, st := range in.State {
				if !sandbox.ValidState(st) {
					return nil, s.fail(ctx, "list", errdefs.Invalid("state %q: use one of creating, running, paused, stopped, failed, deleting, hibernated", st))
				}
				opts.States = append(opts.States, sandbox.State(st))
			}
			for _, l := range in.Label {
				k, v, ok := strings.Cut(l, "=")
				if !ok || k == "" {
					return nil, s.fail(ctx, "list", errdefs.Invalid("label %q: write it as key=value", l))
				}
				if opts.Labels == nil {
					opts.Labels = map[string]string{}
				}
				opts.Labels[k] = v
			}
			page, err := s.eng.List(ctx, opts)
			if err != nil {
				return nil, s.fail(ctx, "list", err)
			}
			if page.Items == nil {
				page.Items = []*sandbox.Sandbox{}
			}
			return &listOutput{Body: page}, nil
		})

	huma.Register(s.api, op(http.MethodGet, "/v1/sandboxes/{id}", "get-sandbox", "sandboxes",
		"Get a sandbox", "", http.StatusNotFound),
		func(ctx context.Context, in *idInput) (*sandboxOutput, error) {
			sb, err := s.eng.Get(ctx, in.ID)
			if err != nil {
				return nil, s.fail(ctx, "get", err)
			}
			return &sandboxOutput{Body: sb}, nil
		})

	del := op(http.MethodDelete, "/v1/sandboxes/{id}", "delete-sandbox", "sandboxes",
		"Delete a sandbox", "Stops the sandbox if needed and removes it with everything it held.",
		http.StatusNotFound, http.StatusConflict)
	del.DefaultStatus = http.StatusNoContent
	huma.Register(s.api, del, func(ctx context.Context, in *idInput) (*struct{}, error) {
		if err := s.eng.Delete(ctx, in.ID); err != nil {
			return nil, s.fail(ctx, "delete", err)
		}
		return nil, nil
	})

	lifecycle := []struct {
		verb, summary, desc string
		fn                  func(context.Context, string) (*sandbox.Sandbox, error)
	}{
		{"start", "Start a stopped sandbox", "Boots a stopped sandbox again with its disks and address.", s.eng.Start},
		{"stop", "Stop a sandbox", "Powers the sandbox off, keeping its record, disks and address.", s.eng.Stop},
		{"pause", "Pause a sandbox", "Freezes the sandbox's vCPUs; memory stays allocated.", s.eng.Pause},
		{"resume", "Resume a paused sandbox", "Continues a paused sandbox, or wakes a hibernated one.", s.eng.Resume},
		{"hibernate", "Hibernate a sandbox", "Saves a running or paused sandbox to disk (memory, processes, disks) and ends its VMM: no CPU, no RAM; it keeps its address and identity. The next request that needs its guest (exec, files, processes, terminals, ports, actions) wakes it first.", s.eng.Hibernate},
	}
	for _, l := range lifecycle {
		huma.Register(s.api, op(http.MethodPost, "/v1/sandboxes/{id}/"+l.verb, l.verb+"-sandbox", "sandboxes",
			l.summary, l.desc, http.StatusNotFound, http.StatusConflict, http.StatusServiceUnavailable),
			func(ctx context.Context, in *idInput) (*sandboxOutput, error) {
				sb, err := l.fn(ctx, in.ID)
				if err != nil {
					return nil, s.fail(ctx, l.verb, err)
				}
				return &sandboxOutput{Body: sb}, nil
			})
	}

	snap := op(http.MethodPost, "/v1/sandboxes/{id}/snapshot", "snapshot-sandbox", "sandboxes",
		"Snapshot a sandbox",
		"Saves memory, devices and disks of a running or paused sandbox; it keeps running. Create sandboxes from it with from_snapshot.",
		http.StatusNotFound, http.StatusConflict, http.StatusTooManyRequests, http.StatusServiceUnavailable)
	snap.DefaultStatus = http.StatusCreated
	huma.Register(s.api, snap, func(ctx context.Context, in *idInput) (*snapshotOutput, error) {
		sn, err := s.eng.Snapshot(ctx, in.ID)
		if err != nil {
			return nil, s.fail(ctx, "snapshot", err)
		}
		return &snapshotOutput{Body: sn}, nil
	})

	fork := op(http.MethodPost, "/v1/sandboxes/{id}/fork", "fork-sandbox", "sandboxes",
		"Fork a sandbox",
		"Snapshots the sandbox and restores count clones of it, each with its own identity (address, MAC, hostname).",
		http.StatusNotFound, http.StatusConflict, http.StatusTooManyRequests, http.StatusServiceUnavailable)
	fork.DefaultStatus = http.StatusCreated
	fork = engineChecked(fork)
	huma.Register(s.api, fork, func(ctx context.Context, in *forkInput) (*sandboxesOutput, error) {
		clones, err := s.eng.Fork(ctx, in.ID, in.Body.ForkRequest)
		if err != nil {
			return nil, s.fail(ctx, "fork", err)
		}
		out := &sandboxesOutput{}
		out.Body.Items = clones
		if out.Body.Items == nil {
			out.Body.Items = []*sandbox.Sandbox{}
		}
		return out, nil
	})
}
