package config

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
)

// render lists the effective configuration, one "key = value  # source" line
// per setting, secrets masked. The file read, if any, comes first as a
// comment. It backs each type's String method, so printing a config with
// %v or %s can never show a secret.
func render(settings []setting, prov provenance) string {
	var b strings.Builder
	if prov.file != "" {
		fmt.Fprintf(&b, "# config file %s (from %s)\n", prov.file, prov.fileFrom)
	}
	for _, st := range settings {
		fmt.Fprintf(&b, "%s = %s  # %s\n", st.name, strconv.Quote(st.shown(st.val.text())), prov.current(st).src)
	}
	return b.String()
}

// logValue is the slog form of a configuration: one attribute per setting,
// secrets masked. Without it the JSON handler would marshal the exported
// fields, tokens included.
func logValue(settings []setting) slog.Value {
	attrs := make([]slog.Attr, 0, len(settings))
	for _, st := range settings {
		attrs = append(attrs, slog.String(st.name, st.shown(st.val.text())))
	}
	return slog.GroupValue(attrs...)
}
