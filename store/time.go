package store

import (
	"database/sql"
	"time"
)

// Times are stored as INTEGER nanoseconds since the Unix epoch, which sort
// correctly and make keyset pagination a plain integer comparison.

func toNanos(t time.Time) int64 { return t.UnixNano() }

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

// nullNanos stores the zero time as NULL.
func nullNanos(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixNano(), Valid: true}
}

// fromNullNanos reads NULL as the zero time.
func fromNullNanos(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return fromNanos(n.Int64)
}

// now is the store's clock, truncated to what survives a round trip.
func now() time.Time { return time.Now().UTC().Round(0) }
