package pgcopy

// WithMidChunkHook sets the test hook run when a chunk's first buffer is
// about to enter the pipe (the target COPY is active, mid-chunk).
func WithMidChunkHook(c Config, fn func(table string, chunk int)) Config {
	c.hooks.midChunk = fn
	return c
}
