package config

import "strings"

// table is one command's settings under the command's name.
type table struct {
	cmd      string
	settings []setting
}

// tables lists every command's settings, bound to throwaway structs. It lets
// the loader tell another command's setting (ignored in the environment,
// named in file errors) from a typo. Built on demand: no package state.
func tables() []table {
	return []table{
		{"serve", new(Serve).settings()},
		{"daemon", new(Daemon).settings()},
		{"relay", new(Relay).settings()},
		{"client", new(Client).settings()},
	}
}

func lookup(settings []setting, name string) (setting, bool) {
	for _, st := range settings {
		if st.name == name {
			return st, true
		}
	}
	return setting{}, false
}

// owner returns the first other command that has a setting named name.
func owner(cmd, name string) string {
	for _, t := range tables() {
		if _, ok := lookup(t.settings, name); ok && t.cmd != cmd {
			return t.cmd
		}
	}
	return ""
}

// suggest finds the setting a mistyped name most likely meant, ignoring case,
// dashes and underscores ("data_dir", "dataDir" -> "data-dir").
func suggest(settings []setting, name string) string {
	want := fold(name)
	for _, st := range settings {
		if fold(st.name) == want {
			return st.name
		}
	}
	return ""
}

func fold(s string) string {
	return strings.NewReplacer("-", "", "_", "").Replace(strings.ToLower(s))
}
