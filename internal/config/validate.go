package config

import (
	"errors"
	"fmt"
	"net"
	"time"
)

// validator collects every problem of one struct, each worded by
// provenance.invalid, so Validate can return them all at once.
type validator struct {
	settings []setting
	prov     provenance
	errs     []error
}

func (v *validator) setting(name string) setting {
	st, ok := lookup(v.settings, name)
	if !ok {
		panic("config: no setting " + name) // a typo in a Validate method
	}
	return st
}

func (v *validator) check(name string, err error) {
	if err != nil {
		v.errs = append(v.errs, v.prov.invalid(v.setting(name), err.Error()))
	}
}

// describe names another setting inside a message: --x "value" (from source).
func (v *validator) describe(name string) string {
	st := v.setting(name)
	o := v.prov.current(st)
	if o.src == sourceUnknown {
		return fmt.Sprintf("--%s %q", name, st.shown(st.val.text()))
	}
	return fmt.Sprintf("--%s %q (from %s)", name, st.shown(o.raw), o)
}

// distinctPorts reports two listeners of the same protocol that would bind
// the same port, which otherwise fails later as a bare "address in use".
func (v *validator) distinctPorts(proto string, names ...string) {
	for i, a := range names {
		for _, b := range names[i+1:] {
			if overlap(v.setting(a).val.text(), v.setting(b).val.text()) {
				v.check(b, fmt.Errorf("same %s port as %s", proto, v.describe(a)))
			}
		}
	}
}

func overlap(a, b string) bool {
	ha, pa, errA := net.SplitHostPort(a)
	hb, pb, errB := net.SplitHostPort(b)
	if errA != nil || errB != nil || pa != pb || pa == "0" {
		return false
	}
	return ha == hb || anyHost(ha) || anyHost(hb)
}

func anyHost(h string) bool {
	ip := net.ParseIP(h)
	return h == "" || ip != nil && ip.IsUnspecified()
}

func (v *validator) err() error { return errors.Join(v.errs...) }

func checkLogging(v *validator, level, format string) {
	v.check("log-level", checkLogLevel(level))
	v.check("log-format", checkLogFormat(format))
}

// maxGrace bounds --shutdown-grace: a drain that needs more is a bug to fix,
// and a typo such as 10h would otherwise stall every rollout.
const maxGrace = 5 * time.Minute

func checkGrace(d time.Duration) error {
	if d <= 0 {
		return errors.New("must be more than 0")
	}
	if d > maxGrace {
		return errors.New("must be at most 5m")
	}
	return nil
}
