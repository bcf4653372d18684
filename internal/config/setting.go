package config

import (
	"fmt"
	"strings"
	"time"
)

// envPrefix starts every environment variable this package reads.
const envPrefix = "LIVEPLANE_"

// secrecy says how a value is shown outside the process.
type secrecy int

const (
	public      secrecy = iota
	secretURL           // a URL whose password, token or password= parameter is masked
	secretToken         // shown only as "xxxxx" (set) or "" (unset)
)

// setting is one row of a command's table: everything the loader, the help
// text, the printer and the error messages need to know about one value.
type setting struct {
	name   string // flag name and file key, kebab-case
	def    string // default in its text form; also shown by -h
	help   string // a backquoted word becomes the argument name in -h
	secret secrecy
	val    value // bound to a field of the typed struct
}

// env is the environment variable for the setting: LIVEPLANE_ + the flag name
// in upper snake case. Derived, never written by hand, so it cannot drift.
func (st setting) env() string { return envName(st.name) }

func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// usage is the flag help: the table's text plus the environment name, which
// is how operators discover the env form from -h.
func (st setting) usage() string {
	return fmt.Sprintf("%s (env %s)", st.help, st.env())
}

// shown is the value as it may appear in errors, help and logs.
func (st setting) shown(raw string) string {
	switch st.secret {
	case secretURL:
		return MaskURL(raw)
	case secretToken:
		return maskToken(raw)
	}
	return raw
}

// value is a typed field behind a setting. set parses the text form used by
// defaults, environment variables and flags; text is the inverse.
type value interface {
	set(string) error
	text() string
}

type stringValue struct{ p *string }

func (v stringValue) set(s string) error { *v.p = s; return nil }
func (v stringValue) text() string       { return *v.p }

type durationValue struct{ p *time.Duration }

func (v durationValue) set(s string) error {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("not a duration; write a number with a unit, such as 10s or 1m30s")
	}
	*v.p = d
	return nil
}
func (v durationValue) text() string { return v.p.String() }

// listValue holds a comma-separated list; blanks around items are dropped so
// "a, b" and "a,b" mean the same, and an empty string is an empty list.
type listValue struct{ p *[]string }

func (v listValue) set(s string) error {
	var items []string
	for _, it := range strings.Split(s, ",") {
		if it = strings.TrimSpace(it); it != "" {
			items = append(items, it)
		}
	}
	*v.p = items
	return nil
}
func (v listValue) text() string { return strings.Join(*v.p, ",") }
