package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// applyFile sets the values found in the YAML file at path. The file is a flat
// mapping whose keys are the flag names. Unknown keys are errors, because a
// misspelt key silently falling back to a default is the worst kind of
// configuration bug.
func applyFile(cmd string, settings []setting, path string, from origin, prov *provenance) (warnings []string, errs []error) {
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is already in the message
		}
		return nil, []error{fmt.Errorf("cannot read config file %s (from %s): %v", path, from, err)}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, []error{fmt.Errorf("config file %s (from %s) is not valid YAML: %s", path, from, oneLine(err))}
	}
	if len(doc.Content) == 0 {
		return nil, nil // empty, or only comments
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, []error{fmt.Errorf("config file %s:%d: want \"key: value\" lines at the top level", path, root.Line)}
	}
	seen := map[string]int{}
	var secrets []string
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		where := fmt.Sprintf("%s:%d", path, k.Line)
		st, ok := lookup(settings, k.Value)
		if !ok || k.Kind != yaml.ScalarNode {
			errs = append(errs, unknownKey(cmd, settings, k.Value, where))
			continue
		}
		if line, dup := seen[k.Value]; dup {
			errs = append(errs, fmt.Errorf("key %q appears twice in config file %s (lines %d and %d)", k.Value, path, line, k.Line))
			continue
		}
		seen[k.Value] = k.Line
		o := origin{src: sourceFile, where: where}
		raw, err := nodeText(v, st)
		if err != nil {
			errs = append(errs, fmt.Errorf("invalid --%s (from %s): %v", st.name, o, err))
			continue
		}
		if err := st.val.set(raw); err != nil {
			errs = append(errs, invalidValue(st, raw, o, err.Error()))
			continue
		}
		prov.record(st, raw, o)
		if st.shown(raw) != raw {
			secrets = append(secrets, st.name)
		}
	}
	if w := exposedSecrets(path, secrets); w != "" {
		warnings = append(warnings, w)
	}
	return warnings, errs
}

func unknownKey(cmd string, settings []setting, key, where string) error {
	if other := owner(cmd, key); other != "" {
		return fmt.Errorf("key %q in config file %s is a %s setting; %s does not accept it", key, where, other, cmd)
	}
	if s := suggest(settings, key); s != "" {
		return fmt.Errorf("unknown key %q in config file %s (did you mean %q?)", key, where, s)
	}
	return fmt.Errorf("unknown key %q in config file %s", key, where)
}

// nodeText turns a YAML value into the setting's text form. Scalars are taken
// as written, so "10s" is a duration and 8080 is the string "8080"; a list is
// accepted only where the setting is one, and is stored comma-joined.
func nodeText(v *yaml.Node, st setting) (string, error) {
	if v.Kind == yaml.AliasNode {
		v = v.Alias
	}
	switch v.Kind {
	case yaml.ScalarNode:
		if v.Tag == "!!null" {
			return "", nil
		}
		return v.Value, nil
	case yaml.SequenceNode:
		if _, ok := st.val.(listValue); !ok {
			return "", errors.New("want a single value, not a list")
		}
		items := make([]string, 0, len(v.Content))
		for _, it := range v.Content {
			if it.Kind != yaml.ScalarNode {
				return "", fmt.Errorf("line %d: want a plain list item", it.Line)
			}
			items = append(items, it.Value)
		}
		return strings.Join(items, ","), nil
	}
	return "", errors.New("want a value, not a mapping")
}

// exposedSecrets warns when a file holding secrets is readable by every user:
// the file is then as leaky as a flag on the command line.
func exposedSecrets(path string, secrets []string) string {
	if len(secrets) == 0 {
		return ""
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm()&0o004 == 0 {
		return ""
	}
	return fmt.Sprintf("config file %s holds secrets (%s) and is readable by all users (mode %v); chmod o-r it",
		path, strings.Join(secrets, ", "), fi.Mode().Perm())
}

func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }
