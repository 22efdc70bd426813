package db

import (
	"context"
	"errors"
	"io"
	"net"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgconn"
)

// Class says what a caller should do about an error.
type Class int

const (
	// Fatal errors are not helped by retrying: bad SQL, missing table,
	// constraint violation, permission denied.
	Fatal Class = iota
	// LockTimeout means the statement gave up waiting for a lock the
	// application held; retry later, and for batches, smaller.
	LockTimeout
	// Conflict is a deadlock or serialization failure: retry the transaction.
	Conflict
	// ConnectionLost means the session is gone (network, server restart,
	// backend terminated): reconnect and retry.
	ConnectionLost
	// Canceled means our own context ended; never retry.
	Canceled
)

func (c Class) String() string {
	switch c {
	case LockTimeout:
		return "lock timeout"
	case Conflict:
		return "conflict"
	case ConnectionLost:
		return "connection lost"
	case Canceled:
		return "canceled"
	default:
		return "fatal"
	}
}

// Classify maps an error to a Class using SQLSTATE codes, never message text.
func Classify(err error) Class {
	if err == nil {
		return Fatal
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return Canceled
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == pgerrcode.LockNotAvailable:
			return LockTimeout
		case pgErr.Code == pgerrcode.DeadlockDetected, pgErr.Code == pgerrcode.SerializationFailure:
			return Conflict
		case pgerrcode.IsConnectionException(pgErr.Code),
			pgErr.Code == pgerrcode.AdminShutdown,
			pgErr.Code == pgerrcode.CrashShutdown,
			pgErr.Code == pgerrcode.CannotConnectNow,
			pgErr.Code == pgerrcode.IdleInTransactionSessionTimeout:
			return ConnectionLost
		}
		return Fatal
	}
	if pgconn.SafeToRetry(err) || pgconn.Timeout(err) {
		return ConnectionLost
	}
	var netErr net.Error
	if errors.As(err, &netErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		return ConnectionLost
	}
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) {
		return ConnectionLost
	}
	return Fatal
}

// IsRetryable reports whether retrying the same work may succeed.
func IsRetryable(err error) bool {
	switch Classify(err) {
	case LockTimeout, Conflict, ConnectionLost:
		return true
	}
	return false
}
