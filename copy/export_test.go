package pgcopy

// WithMidChunkHook sets the test hook run before the target reads a
// chunk's first rows (its COPY was sent: mid-chunk).
func WithMidChunkHook(c Config, fn func(table string, chunk int, targetPID uint32)) Config {
	c.hooks.midChunk = fn
	return c
}
