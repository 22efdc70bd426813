package pgcopy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/jackc/pgx/v5/pgconn"
)

// pipeBuffer batches the source's row-sized CopyData messages into large
// writes, so the target gets large CopyData messages (one syscall each)
// instead of one per row. The memory of a chunk in flight is this buffer
// plus pgconn's own, whatever the table size.
const pipeBuffer = 64 << 10

// errTargetStopped is what the source sees when the target side ended the
// pipe first; the target's own error is the one reported.
var errTargetStopped = errors.New("target stopped reading")

// stream copies the result of copyOut on src into copyIn on dst through an
// io.Pipe, without decoding anything. Whichever side fails closes the pipe
// with its error, so the other side never hangs: a failing target makes the
// source's next write fail (pgconn then closes that connection, the only way
// to abort a COPY TO), a failing source makes the target send CopyFail.
// It returns the rows the target stored and the bytes that went through.
func stream(ctx context.Context, src, dst *pgconn.PgConn, copyOut, copyIn string, midChunk func(targetPID uint32)) (rows, bytes int64, err error) {
	pr, pw := io.Pipe()
	// pgconn watches ctx on the network side only; a cancelled run must
	// also unblock a side waiting on the pipe.
	stop := context.AfterFunc(ctx, func() {
		pr.CloseWithError(ctx.Err())
		pw.CloseWithError(ctx.Err())
	})
	defer stop()

	counter := &countingReader{r: pr}
	if midChunk != nil {
		counter.first = func() { midChunk(dst.PID()) }
	}
	srcDone := make(chan error, 1)
	go func() {
		buf := bufio.NewWriterSize(pw, pipeBuffer)
		_, err := src.CopyTo(ctx, buf, copyOut)
		if err == nil {
			err = buf.Flush()
		}
		pw.CloseWithError(err) // nil: the target reads EOF and completes
		srcDone <- err
	}()
	tag, dstErr := dst.CopyFrom(ctx, counter, copyIn)
	if dstErr != nil {
		pr.CloseWithError(errTargetStopped)
	} else {
		pr.Close()
	}
	srcErr := <-srcDone
	switch {
	case srcErr != nil && !errors.Is(srcErr, errTargetStopped):
		return 0, counter.n.Load(), fmt.Errorf("reading the source: %w", srcErr)
	case dstErr != nil:
		return 0, counter.n.Load(), fmt.Errorf("writing the target: %w", dstErr)
	}
	return tag.RowsAffected(), counter.n.Load(), nil
}

// countingReader counts the bytes the target takes from the pipe and calls
// first (a test hook) before the first read: the target has been sent the
// COPY statement and is waiting for rows. n is atomic because pgconn may
// return from CopyFrom (on a lost connection) before its reading goroutine
// ends.
type countingReader struct {
	r     io.Reader
	n     atomic.Int64
	first func()
}

func (c *countingReader) Read(p []byte) (int, error) {
	if c.first != nil {
		c.first()
		c.first = nil
	}
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}
