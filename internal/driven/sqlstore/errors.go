package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"net"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/liveplane/liveplane/internal/domain"
)

// classify gives driver errors their domain code, so use cases can tell a
// taken name from a broken connection without knowing the engine.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var de *domain.Error
	switch {
	case errors.As(err, &de):
		return err
	case errors.Is(err, sql.ErrNoRows):
		return &domain.Error{Code: domain.CodeNotFound, Op: "sqlstore", Err: err}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &domain.Error{Code: domain.CodeUnavailable, Op: "sqlstore", Msg: "database did not answer in time", Err: err}
	case isUniqueViolation(err):
		return &domain.Error{Code: domain.CodeConflict, Op: "sqlstore", Err: err}
	case isUnavailable(err):
		return &domain.Error{Code: domain.CodeUnavailable, Op: "sqlstore", Msg: "database unavailable", Err: err}
	}
	return &domain.Error{Code: domain.CodeInternal, Op: "sqlstore", Err: err}
}

func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505"
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		c := se.Code()
		return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

func isUnavailable(err error) bool {
	var ne net.Error
	var ce *pgconn.ConnectError
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// Class 08: connection exception; 57P0x: the server is shutting down.
		return pe.Code[:2] == "08" || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03"
	}
	return errors.As(err, &ne) || errors.As(err, &ce) || errors.Is(err, driver.ErrBadConn) ||
		pgconn.SafeToRetry(err)
}
