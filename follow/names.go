package follow

import (
	"fmt"
	"hash/fnv"
	"strings"
)

// objectNames are the source objects of a stream: a replication slot and a
// publication, named after the stream (slot names allow only lower-case
// letters, digits and underscores, at most 63 bytes) with a hash of the
// full name and of where it goes (pair: the source database and the
// target's): slots are per server, not per database, so two migrations of
// the same name from two databases, or into two targets, never share one.
func objectNames(stream, pair string) (slot, publication string) {
	h := fnv.New32a()
	_, _ = h.Write([]byte(stream + "\x00" + pair))
	clean := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return '_'
	}, stream)
	if len(clean) > 32 {
		clean = clean[:32]
	}
	base := fmt.Sprintf("tenantmover_%s_%08x", clean, h.Sum32())
	return base, base
}
