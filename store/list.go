package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/volant-sh/volant/errdefs"
)

// SandboxFilter selects sandboxes for ListSandboxes. Empty fields select
// everything.
type SandboxFilter struct {
	// States keeps sandboxes in any of these states.
	States []string
	// Runtime keeps sandboxes of this runtime.
	Runtime string
	// Labels keeps sandboxes carrying every one of these key=value labels.
	Labels map[string]string
	// Limit is the page size; 0 or less means no limit.
	Limit int
	// After is the cursor: the next value of a previous call, or the id of a
	// sandbox to start after. Empty starts at the beginning.
	After string
}

// ListSandboxes returns sandboxes matching f, oldest first (by creation time,
// then id), and the cursor for the next page, which is empty when there are
// no more. Cursors stay valid when the sandbox they name is deleted.
func (s *Store) ListSandboxes(ctx context.Context, f SandboxFilter) ([]Sandbox, string, error) {
	var (
		where []string
		args  []any
	)
	if f.After != "" {
		created, id, ok := parseCursor(f.After)
		if ok {
			where = append(where, `(s.created_at, s.id) > (?, ?)`)
			args = append(args, created, id)
		} else {
			// A plain sandbox id: it must still exist to know where it was.
			var created int64
			err := s.r.QueryRowContext(ctx, `SELECT created_at FROM sandboxes WHERE id = ?`, f.After).Scan(&created)
			if err != nil {
				return nil, "", errdefs.Invalid("cursor %q is neither a cursor from a previous page nor an existing sandbox id; list from the beginning", f.After)
			}
			where = append(where, `(s.created_at, s.id) > (?, ?)`)
			args = append(args, created, f.After)
		}
	}
	if len(f.States) > 0 {
		where = append(where, `s.state IN (`+placeholders(len(f.States))+`)`)
		for _, st := range f.States {
			args = append(args, st)
		}
	}
	if f.Runtime != "" {
		where = append(where, `s.runtime = ?`)
		args = append(args, f.Runtime)
	}
	keys := make([]string, 0, len(f.Labels))
	for k := range f.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		where = append(where, `EXISTS (SELECT 1 FROM sandbox_labels l WHERE l.sandbox_id = s.id AND l.key = ? AND l.value = ?)`)
		args = append(args, k, f.Labels[k])
	}
	q := `SELECT ` + sandboxListColumns + ` FROM sandboxes s`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	q += ` ORDER BY s.created_at, s.id`
	if f.Limit > 0 {
		// One more than asked tells whether there is a next page.
		q += ` LIMIT ?`
		args = append(args, f.Limit+1)
	}
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, "", fmt.Errorf("listing sandboxes: %w", err)
	}
	defer rows.Close()
	var out []Sandbox
	for rows.Next() {
		sb, err := scanSandbox(rows)
		if err != nil {
			return nil, "", fmt.Errorf("listing sandboxes: %w", err)
		}
		out = append(out, sb)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("listing sandboxes: %w", err)
	}
	rows.Close()
	var next string
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
		last := out[len(out)-1]
		next = formatCursor(toNanos(last.CreatedAt), last.ID)
	}
	if err := s.loadLabels(ctx, out); err != nil {
		return nil, "", fmt.Errorf("listing sandboxes: %w", err)
	}
	return out, next, nil
}

// loadLabels fills in the labels of sbs with one query.
func (s *Store) loadLabels(ctx context.Context, sbs []Sandbox) error {
	if len(sbs) == 0 {
		return nil
	}
	idx := make(map[string]int, len(sbs))
	ids := make([]string, len(sbs))
	for i, sb := range sbs {
		idx[sb.ID] = i
		ids[i] = sb.ID
	}
	js, err := json.Marshal(ids)
	if err != nil {
		return err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT sandbox_id, key, value FROM sandbox_labels
		WHERE sandbox_id IN (SELECT value FROM json_each(?))`, string(js))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id, k, v string
		if err := rows.Scan(&id, &k, &v); err != nil {
			return err
		}
		sb := &sbs[idx[id]]
		if sb.Labels == nil {
			sb.Labels = make(map[string]string)
		}
		sb.Labels[k] = v
	}
	return rows.Err()
}

// A cursor is "c<created_at nanoseconds>.<id>"; the store's own cursors
// carry the position, so they outlive the sandbox they name.
func formatCursor(created int64, id string) string {
	return "c" + strconv.FormatInt(created, 10) + "." + id
}

func parseCursor(c string) (created int64, id string, ok bool) {
	rest, ok := strings.CutPrefix(c, "c")
	if !ok {
		return 0, "", false
	}
	num, id, ok := strings.Cut(rest, ".")
	if !ok {
		return 0, "", false
	}
	created, err := strconv.ParseInt(num, 10, 64)
	if err != nil {
		return 0, "", false
	}
	return created, id, true
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}
