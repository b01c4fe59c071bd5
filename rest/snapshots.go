package rest

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/volant-sh/volant/sandbox"
)

type snapshotIDInput struct {
	ID string `path:"id" maxLength:"128" pattern:"^[A-Za-z0-9][A-Za-z0-9._-]*$" doc:"Snapshot id."`
}

type snapshotsOutput struct {
	Body struct {
		Items []*sandbox.Snapshot `json:"items"`
	}
}

func (s *server) snapshotRoutes() {
	huma.Register(s.api, op(http.MethodGet, "/v1/snapshots", "list-snapshots", "snapshots",
		"List snapshots", "Every snapshot, oldest first, with what keeps it alive."),
		func(ctx context.Context, _ *struct{}) (*snapshotsOutput, error) {
			list, err := s.eng.ListSnapshots(ctx)
			if err != nil {
				return nil, s.fail(ctx, "list snapshots", err)
			}
			out := &snapshotsOutput{}
			out.Body.Items = list
			if out.Body.Items == nil {
				out.Body.Items = []*sandbox.Snapshot{}
			}
			return out, nil
		})

	huma.Register(s.api, op(http.MethodGet, "/v1/snapshots/{id}", "get-snapshot", "snapshots",
		"Get a snapshot", "", http.StatusNotFound),
		func(ctx context.Context, in *snapshotIDInput) (*snapshotOutput, error) {
			sn, err := s.eng.GetSnapshot(ctx, in.ID)
			if err != nil {
				return nil, s.fail(ctx, "get snapshot", err)
			}
			return &snapshotOutput{Body: sn}, nil
		})

	del := op(http.MethodDelete, "/v1/snapshots/{id}", "delete-snapshot", "snapshots",
		"Delete a snapshot",
		"Removes a snapshot that no snapshot or sandbox depends on (409 otherwise: delete those first).",
		http.StatusNotFound, http.StatusConflict)
	del.DefaultStatus = http.StatusNoContent
	huma.Register(s.api, del, func(ctx context.Context, in *snapshotIDInput) (*struct{}, error) {
		if err := s.eng.DeleteSnapshot(ctx, in.ID); err != nil {
			return nil, s.fail(ctx, "delete snapshot", err)
		}
		return nil, nil
	})
}
