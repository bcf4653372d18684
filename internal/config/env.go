package config

import (
	"fmt"
	"strings"
)

// scanEnv collects the LIVEPLANE_* variables of env ("KEY=value" entries, as
// from os.Environ). A later entry wins over an earlier one, as with exec.Cmd.
// A variable that belongs to no command is most likely a typo: it is ignored
// with a warning. Another command's variable (LIVEPLANE_TOKEN for the CLI in
// the shell that starts serve) is ignored silently; that is normal.
func scanEnv(env []string) (map[string]string, []string) {
	vars := map[string]string{}
	known := map[string]bool{envName(configFlag): true}
	var all []setting
	for _, t := range tables() {
		for _, st := range t.settings {
			known[st.env()] = true
		}
		all = append(all, t.settings...)
	}
	var warnings []string
	warned := map[string]bool{}
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, envPrefix) {
			continue
		}
		if known[k] {
			vars[k] = v
			continue
		}
		if warned[k] {
			continue
		}
		warned[k] = true
		w := fmt.Sprintf("environment variable %s is not a liveplane setting; ignored", k)
		if s := suggest(all, strings.TrimPrefix(k, envPrefix)); s != "" {
			w += fmt.Sprintf(" (did you mean %s?)", envName(s))
		}
		warnings = append(warnings, w)
	}
	return vars, warnings
}
