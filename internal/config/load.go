package config

import (
	"errors"
	"flag"
)

// configFlag names the file flag; its environment twin is LIVEPLANE_CONFIG.
const configFlag = "config"

// flagValue records what the command line said without interpreting it, so
// the flag layer can be applied last (it has the highest precedence) and its
// errors can be worded like every other source's.
type flagValue struct {
	def  string // shown by -h as the default
	raw  string
	set  bool
	list bool // repeated flags append (--allowed-origins a --allowed-origins b)
}

func (f *flagValue) String() string {
	if f.set {
		return f.raw
	}
	return f.def
}

func (f *flagValue) Set(s string) error {
	if f.list && f.set && f.raw != "" {
		s = f.raw + "," + s
	}
	f.raw, f.set = s, true
	return nil
}

// loader binds one command's settings to a FlagSet and, once the FlagSet is
// parsed, resolves every layer into the bound struct.
type loader struct {
	cmd      string
	settings []setting
	flags    map[string]*flagValue
	file     *flagValue
}

// register defines a flag for every setting, plus --config, on fs. It panics
// if fs already has one of those names, as the flag package does: that is a
// programming error found by the first test that builds the command.
func register(fs *flag.FlagSet, cmd string, settings []setting) *loader {
	l := &loader{cmd: cmd, settings: settings, flags: map[string]*flagValue{}, file: &flagValue{}}
	for _, st := range settings {
		_, isList := st.val.(listValue)
		fv := &flagValue{def: st.shown(st.def), list: isList}
		l.flags[st.name] = fv
		fs.Var(fv, st.name, st.usage())
	}
	fs.Var(l.file, configFlag, "YAML `file` of settings, keys named like these flags (env "+envName(configFlag)+")")
	return l
}

// load applies defaults, the file, the environment and the flags set on the
// command line, in that order, recording where each value came from. It
// reports every problem at once, so one run shows everything to fix.
func (l *loader) load(env []string) (provenance, []string, error) {
	prov := provenance{from: map[string]origin{}}
	for _, st := range l.settings {
		if err := st.val.set(st.def); err != nil {
			panic("config: bad default for --" + st.name + ": " + err.Error())
		}
		prov.record(st, st.def, origin{src: sourceDefault})
	}
	vars, warnings := scanEnv(env)
	var errs []error

	path, from := l.file.raw, origin{src: sourceFlag}
	if !l.file.set {
		path, from = vars[envName(configFlag)], origin{src: sourceEnv, where: envName(configFlag)}
	}
	if path != "" {
		prov.file, prov.fileFrom = path, from
		w, e := applyFile(l.cmd, l.settings, path, from, &prov)
		warnings, errs = append(warnings, w...), append(errs, e...)
	}

	for _, st := range l.settings {
		if raw, ok := vars[st.env()]; ok {
			errs = append(errs, apply(st, raw, origin{src: sourceEnv, where: st.env()}, &prov))
		}
	}
	for _, st := range l.settings {
		fv := l.flags[st.name]
		if !fv.set {
			continue
		}
		errs = append(errs, apply(st, fv.raw, origin{src: sourceFlag}, &prov))
		if st.shown(fv.raw) != fv.raw {
			warnings = append(warnings, "--"+st.name+" holds a secret and the command line is visible to other users (ps, /proc); prefer "+st.env()+" or the config file")
		}
	}
	return prov, warnings, errors.Join(errs...)
}

func apply(st setting, raw string, o origin, prov *provenance) error {
	if err := st.val.set(raw); err != nil {
		return invalidValue(st, raw, o, err.Error())
	}
	prov.record(st, raw, o)
	return nil
}
