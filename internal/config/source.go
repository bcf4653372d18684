package config

import "fmt"

// source is the layer a value came from; a higher layer overrides a lower one.
type source int

const (
	sourceUnknown source = iota // the struct was built by hand, not loaded
	sourceDefault
	sourceFile
	sourceEnv
	sourceFlag
)

// String is the word printed after "#" by the String methods.
func (s source) String() string {
	switch s {
	case sourceDefault:
		return "default"
	case sourceFile:
		return "file"
	case sourceEnv:
		return "env"
	case sourceFlag:
		return "flag"
	}
	return "unknown"
}

// origin is where one value came from, precise enough for an error message:
// the environment variable, or the file and line.
type origin struct {
	src   source
	where string // "LIVEPLANE_HTTP", "/etc/liveplane.yaml:3"; empty for default and flag
	raw   string // the text as written there, so errors quote "1h", not "1h0m0s"
	text  string // the value's text once set; if it differs now, code changed the field
}

func (o origin) String() string {
	switch o.src {
	case sourceDefault:
		return "default"
	case sourceFile:
		return "config file " + o.where
	case sourceEnv:
		return o.where
	case sourceFlag:
		return "command line"
	}
	return ""
}

// provenance travels inside each typed struct so Validate and String can name
// sources long after loading. The zero value (a hand-built struct) is valid:
// errors then simply omit the "(from ...)" part.
type provenance struct {
	file     string // the config file read, if any
	fileFrom origin // where its path came from: --config or LIVEPLANE_CONFIG
	from     map[string]origin
}

// invalid is the one-line error for a problem with a setting's current value.
func (p provenance) invalid(st setting, msg string) error {
	o := p.current(st)
	if o.src == sourceUnknown {
		return invalidValue(st, st.val.text(), o, msg)
	}
	return invalidValue(st, o.raw, o, msg)
}

// current is where st's value came from, or the zero origin when the value
// was assigned by code after loading, which no source can be blamed for.
func (p provenance) current(st setting) origin {
	o := p.from[st.name]
	if o.text != st.val.text() {
		return origin{}
	}
	return o
}

// record notes that st was just set from raw at o.
func (p provenance) record(st setting, raw string, o origin) {
	o.raw, o.text = raw, st.val.text()
	p.from[st.name] = o
}

// invalidValue names the setting, the value (masked when secret) and, when
// known, where it came from: the three things an operator needs to fix it.
func invalidValue(st setting, raw string, o origin, msg string) error {
	if o.src == sourceUnknown {
		return fmt.Errorf("invalid --%s %q: %s", st.name, st.shown(raw), msg)
	}
	return fmt.Errorf("invalid --%s %q (from %s): %s", st.name, st.shown(raw), o, msg)
}
