package store

import (
	"context"
	"fmt"

	"github.com/volant-sh/volant/events"
)

var _ events.Log = (*Store)(nil)

// AppendEvent stores e (its Seq is ignored) and returns the sequence number
// it was given. It implements events.Log.
func (s *Store) AppendEvent(ctx context.Context, e events.Event) (int64, error) {
	var seq int64
	err := s.w.QueryRowContext(ctx, `INSERT INTO events (time, type, sandbox_id, data) VALUES (?, ?, ?, ?) RETURNING seq`,
		toNanos(e.Time), e.Type, e.SandboxID, blob(e.Data)).Scan(&seq)
	if err != nil {
		return 0, fmt.Errorf("appending %s event: %w", e.Type, err)
	}
	return seq, nil
}

// EventsSince returns up to limit events with a sequence number above after,
// in order. A limit of 0 or less means no limit. It implements events.Log.
func (s *Store) EventsSince(ctx context.Context, after int64, limit int) ([]events.Event, error) {
	if limit <= 0 {
		limit = -1
	}
	rows, err := s.r.QueryContext(ctx, `SELECT seq, time, type, sandbox_id, data FROM events WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("reading events after %d: %w", after, err)
	}
	defer rows.Close()
	var out []events.Event
	for rows.Next() {
		var (
			e    events.Event
			t    int64
			data []byte
		)
		if err := rows.Scan(&e.Seq, &t, &e.Type, &e.SandboxID, &data); err != nil {
			return nil, fmt.Errorf("reading events after %d: %w", after, err)
		}
		e.Time = fromNanos(t)
		if len(data) > 0 {
			e.Data = data
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading events after %d: %w", after, err)
	}
	return out, nil
}

// LastEventSeq returns the greatest sequence number ever assigned, even if
// that event has been trimmed, or 0. It implements events.Log.
func (s *Store) LastEventSeq(ctx context.Context) (int64, error) {
	// sqlite_sequence remembers the AUTOINCREMENT high-water mark; it
	// has no row before the first insert.
	var seq int64
	err := s.r.QueryRowContext(ctx, `SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0)`).Scan(&seq)
	if err != nil {
		return 0, fmt.Errorf("reading last event sequence: %w", err)
	}
	return seq, nil
}

// TrimEvents deletes all but the newest keepLast events and returns how many
// it deleted. It implements events.Log.
func (s *Store) TrimEvents(ctx context.Context, keepLast int) (int64, error) {
	if keepLast < 0 {
		keepLast = 0
	}
	res, err := s.w.ExecContext(ctx, `DELETE FROM events WHERE seq <= (SELECT max(seq) FROM events) - ?`, keepLast)
	if err != nil {
		return 0, fmt.Errorf("trimming events: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}
