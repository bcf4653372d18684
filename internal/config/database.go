package config

import (
	"errors"
	"net/url"
	"strings"
)

// checkDatabase accepts the --database forms serve understands. Reasons never
// quote the URL or url.Parse's error, which would repeat the password.
func checkDatabase(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("not a valid URL; want postgres://user:password@host:5432/db, sqlite:relative.db or sqlite:///abs/path.db")
	}
	switch u.Scheme {
	case "postgres", "postgresql":
		if u.Opaque != "" {
			return errors.New("want postgres://user:password@host:5432/db")
		}
		return checkURLPort(u)
	case "sqlite":
		if u.Host != "" || strings.HasPrefix(s, "sqlite://") && !strings.HasPrefix(s, "sqlite:///") {
			return errors.New("a sqlite URL has no host: write sqlite:relative.db or sqlite:///abs/path.db")
		}
		if u.RawQuery != "" || u.Fragment != "" {
			return errors.New("sqlite URL options are not supported; liveplane sets its own pragmas")
		}
		if sqliteFile(u) == "" {
			return errors.New("sqlite URL has no file path")
		}
		return nil
	}
	return errors.New("scheme must be postgres://, postgresql:// or sqlite: (empty means SQLite in the data dir)")
}

// sqliteFile is the path in sqlite:relative.db (opaque) or sqlite:///abs.db.
func sqliteFile(u *url.URL) string {
	if u.Opaque != "" {
		if p, err := url.PathUnescape(u.Opaque); err == nil {
			return p
		}
		return ""
	}
	return u.Path
}
