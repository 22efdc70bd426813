package verify

import (
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// sortKey is what streams are ordered by: the text of a tenant or a row
// key, NULL first, then in byte order (ORDER BY ... COLLATE "C" NULLS
// FIRST in SQL, strings.Compare in Go).
type sortKey struct {
	null bool
	text string
}

func (k sortKey) String() string {
	if k.null {
		return "NULL"
	}
	return k.text
}

func compareKeys(a, b sortKey) int {
	switch {
	case a.null && b.null:
		return 0
	case a.null:
		return -1
	case b.null:
		return 1
	}
	return strings.Compare(a.text, b.text)
}

// group is one tenant's aggregate on one side.
type group struct {
	key  sortKey
	rows int64
	sum  string // checksum: sum of row hashes, as text
	hash int32  // worker_hash of the tenant (shard placements only)
	// violations: per fold of the side's relation, the tenant's rows that
	// break the invariant.
	violations []int64
}

// item is one row on one side while narrowing down: its key and hash.
type item struct {
	key  sortKey
	hash int64
}

// reader yields a stream's elements in order; ok is false at the end.
type reader[T any] func() (v T, ok bool, err error)

// ordered wraps a reader and fails if the stream is not in sortKey order,
// so a database that sorts differently than expected is an error, never a
// wrong pairing.
func ordered[T any](name string, r reader[T], key func(T) sortKey) reader[T] {
	var last *sortKey
	return func() (T, bool, error) {
		v, ok, err := r()
		if err != nil || !ok {
			return v, ok, err
		}
		k := key(v)
		if last != nil && compareKeys(*last, k) > 0 {
			return v, false, fmt.Errorf("%s: rows arrive out of order (%q after %q): the database sorts text differently than expected", name, k, *last)
		}
		last = &k
		return v, true, nil
	}
}

// mergeSorted walks sorted streams together: fn gets, for each key in
// order, the element of every stream holding that key (nil for the others).
// fn returns stop=true to end early.
func mergeSorted[T any](streams []reader[T], key func(T) sortKey, fn func([]*T) (stop bool, err error)) error {
	heads := make([]*T, len(streams))
	advance := func(i int) error {
		v, ok, err := streams[i]()
		if err != nil {
			return err
		}
		heads[i] = nil
		if ok {
			heads[i] = &v
		}
		return nil
	}
	for i := range streams {
		if err := advance(i); err != nil {
			return err
		}
	}
	for {
		var min *sortKey
		for _, h := range heads {
			if h != nil {
				if k := key(*h); min == nil || compareKeys(k, *min) < 0 {
					min = &k
				}
			}
		}
		if min == nil {
			return nil
		}
		at := make([]*T, len(streams))
		for i, h := range heads {
			if h != nil && compareKeys(key(*h), *min) == 0 {
				at[i] = h
			}
		}
		if stop, err := fn(at); err != nil || stop {
			return err
		}
		for i := range at {
			if at[i] != nil {
				if err := advance(i); err != nil {
					return err
				}
			}
		}
	}
}

// groupReader reads aggregate rows (k, count[, sum][, hash], violations of
// each of folds folds...) from a cursor.
func groupReader(name string, c *cursor, checksum, hash bool, folds int) reader[group] {
	return ordered(name, func() (group, bool, error) {
		var g group
		if !c.rows.Next() {
			if err := c.rows.Err(); err != nil {
				return g, false, fmt.Errorf("%s: %w", name, err)
			}
			return g, false, nil
		}
		var k *string
		dest := []any{&k, &g.rows}
		if checksum {
			dest = append(dest, &g.sum)
		}
		if hash {
			dest = append(dest, &g.hash)
		}
		g.violations = make([]int64, folds)
		for i := range g.violations {
			dest = append(dest, &g.violations[i])
		}
		if err := c.rows.Scan(dest...); err != nil {
			return g, false, fmt.Errorf("%s: %w", name, err)
		}
		g.key = textKey(k)
		return g, true, nil
	}, func(g group) sortKey { return g.key })
}

// itemReader reads row rows (k[, hash]) from a cursor.
func itemReader(name string, c *cursor, checksum bool) reader[item] {
	return ordered(name, func() (item, bool, error) {
		var it item
		if !c.rows.Next() {
			if err := c.rows.Err(); err != nil {
				return it, false, fmt.Errorf("%s: %w", name, err)
			}
			return it, false, nil
		}
		var k *string
		dest := []any{&k}
		if checksum {
			dest = append(dest, &it.hash)
		}
		if err := c.rows.Scan(dest...); err != nil {
			return it, false, fmt.Errorf("%s: %w", name, err)
		}
		it.key = textKey(k)
		return it, true, nil
	}, func(it item) sortKey { return it.key })
}

func textKey(k *string) sortKey {
	if k == nil {
		return sortKey{null: true}
	}
	return sortKey{text: *k}
}

// scanText reads a one-text-column row.
func scanText(r pgx.Rows) (string, error) {
	var s string
	err := r.Scan(&s)
	return s, err
}
