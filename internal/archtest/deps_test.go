package archtest

import (
	"fmt"
	"go/build"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/liveplane/liveplane"

// domainAllowed are the only non-standard imports the domain may use.
var domainAllowed = map[string]bool{"github.com/google/uuid": true}

// rule returns why pkg may not import imp, or "" when it may. Both are
// import paths; imp is a liveplane package or a third-party one.
func rule(pkg, imp string) string {
	rel := func(p string) string { return strings.TrimPrefix(strings.TrimPrefix(p, module), "/") }
	p, i := rel(pkg), rel(imp)
	internal := strings.HasPrefix(imp, module+"/")
	under := func(path, dir string) bool { return path == dir || strings.HasPrefix(path, dir+"/") }
	// first two elements under internal/, e.g. "internal/drivers/rpc"
	unit := func(path string) string {
		parts := strings.Split(path, "/")
		if len(parts) >= 3 {
			return strings.Join(parts[:3], "/")
		}
		return path
	}

	// One exception: `liveplane bench provision` starts real clusters with
	// the same launcher as the tests (kubetest), not a second copy of it.
	if internal && under(i, "internal/testinfra") && !(p == "internal/bench" && i == "internal/testinfra/kubetest") {
		return "test helpers are for _test.go files only"
	}
	switch {
	case under(p, "internal/domain"):
		if internal && !under(i, "internal/domain") {
			return "the domain imports only itself and the standard library"
		}
		if !internal && !isStd(imp) && !domainAllowed[imp] {
			return "the domain imports only the standard library and " + fmt.Sprint(keys(domainAllowed))
		}
	case under(p, "internal/eventcodec"):
		if internal && !under(i, "internal/domain") && !under(i, "internal/gen") {
			return "the event codec translates between domain and gen only"
		}
	case under(p, "internal/drivers"):
		switch {
		case internal && under(i, "internal/driven"):
			return "a driver never imports a driven adapter (only internal/app knows concrete types)"
		case internal && under(i, "internal/drivers") && unit(i) != unit(p):
			return "a driver never imports another driver"
		case internal && !under(i, "internal/domain") && !under(i, "internal/gen") &&
			!under(i, "internal/eventcodec") && !under(i, "internal/drivers"):
			return "a driver imports the domain, gen and eventcodec only"
		}
	case under(p, "internal/driven"):
		switch {
		case internal && under(i, "internal/drivers"):
			return "a driven adapter never imports a driver"
		case internal && under(i, "internal/driven") && unit(i) != unit(p):
			return "a driven adapter never imports another driven adapter"
		case internal && !under(i, "internal/domain") && !under(i, "internal/gen") &&
			!under(i, "internal/eventcodec") && !under(i, "internal/driven"):
			return "a driven adapter imports the domain, gen and eventcodec only"
		}
	case under(p, "internal/app"), under(p, "internal/cli"), under(p, "cmd"):
		// The composition root and the entry points may know everything.
	default:
		if internal && (under(i, "internal/driven") || under(i, "internal/drivers") || under(i, "internal/app")) {
			return "only internal/app (the composition root) knows concrete drivers and adapters"
		}
	}
	return ""
}

func isStd(imp string) bool {
	first, _, _ := strings.Cut(imp, "/")
	return !strings.Contains(first, ".")
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestDependencyRule walks every package of the module and checks each
// non-test import against the rule.
func TestDependencyRule(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		name := d.Name()
		if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules" || name == "tools") {
			return filepath.SkipDir
		}
		pkg, err := build.ImportDir(path, 0)
		if err != nil {
			if _, ok := err.(*build.NoGoError); ok {
				return nil
			}
			return fmt.Errorf("%s: %w", path, err)
		}
		relDir, _ := filepath.Rel(root, path)
		importPath := module + "/" + filepath.ToSlash(relDir)
		for _, imp := range pkg.Imports {
			if why := rule(importPath, imp); why != "" {
				t.Errorf("%s imports %s: %s", importPath, imp, why)
			}
		}
		checked++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 8 {
		t.Fatalf("checked only %d packages; is the walk rooted right?", checked)
	}
}

// TestRuleCatchesViolations proves the checker is not vacuous.
func TestRuleCatchesViolations(t *testing.T) {
	bad := [][2]string{
		{"internal/domain/account", "internal/driven/sqlstore"},
		{"internal/domain/account", "github.com/jackc/pgx/v5"},
		{"internal/domain", "internal/gen/liveplane/v1"},
		{"internal/drivers/rpc", "internal/driven/sqlstore"},
		{"internal/drivers/rpc", "internal/drivers/events"},
		{"internal/drivers/rpc", "internal/config"},
		{"internal/driven/sqlstore", "internal/drivers/rpc"},
		{"internal/driven/sqlstore", "internal/driven/natsbus"},
		{"internal/bench", "internal/driven/sqlstore"},
		{"internal/driven/sqlstore", "internal/testinfra/pgtest"},
		{"internal/bench", "internal/testinfra/pgtest"},
		{"internal/drivers/daemon", "internal/testinfra/kubetest"},
	}
	for _, b := range bad {
		if rule(module+"/"+b[0], module+"/"+b[1]) == "" && rule(module+"/"+b[0], b[1]) == "" {
			t.Errorf("%s -> %s was allowed", b[0], b[1])
		}
	}
	good := [][2]string{
		{"internal/domain/account", module + "/internal/domain"},
		{"internal/domain", "github.com/google/uuid"},
		{"internal/drivers/rpc", module + "/internal/domain/account"},
		{"internal/drivers/rpc", "connectrpc.com/connect"},
		{"internal/driven/sqlstore", module + "/internal/eventcodec"},
		{"internal/app", module + "/internal/driven/sqlstore"},
	}
	for _, g := range good {
		if why := rule(module+"/"+g[0], g[1]); why != "" {
			t.Errorf("%s -> %s was refused: %s", g[0], g[1], why)
		}
	}
}
