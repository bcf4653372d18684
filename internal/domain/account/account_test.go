package account

import (
	"testing"

	"github.com/liveplane/liveplane/internal/domain"
)

func TestValidateQuota(t *testing.T) {
	for _, q := range []Quota{{}, {CPU: "2"}, {CPU: "500m", Memory: "4Gi", Pods: 10}, {CPU: "0.5"}, {Memory: "1024Mi"}, {Memory: "3k"}} {
		if err := ValidateQuota("op", q); err != nil {
			t.Errorf("%+v: %v", q, err)
		}
	}
	for _, q := range []Quota{{CPU: "two"}, {CPU: "-1"}, {CPU: "1.", Memory: "4Gi"}, {Memory: "4GB"}, {Memory: "4 Gi"},
		{CPU: ".5"}, {Pods: -1}, {Pods: MaxPods + 1}, {CPU: "1111111111111111111111111111111111"}} {
		if err := ValidateQuota("op", q); !domain.Is(err, domain.CodeInvalid) {
			t.Errorf("%+v: err = %v, want invalid", q, err)
		}
	}
}

func TestValidateGroup(t *testing.T) {
	for _, g := range []string{"", "acme-devs", "oidc:acme/devs"} {
		if err := ValidateGroup("op", g); err != nil {
			t.Errorf("%q: %v", g, err)
		}
	}
	for _, g := range []string{" devs", "devs\n", string(make([]byte, MaxGroupLen+1))} {
		if err := ValidateGroup("op", g); !domain.Is(err, domain.CodeInvalid) {
			t.Errorf("%q: err = %v, want invalid", g, err)
		}
	}
}

func FuzzValidateQuota(f *testing.F) {
	for _, s := range []string{"2", "500m", "4Gi", "1.5", "", "x", "1e3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := ValidateQuota("op", Quota{CPU: s})
		if err != nil && !domain.Is(err, domain.CodeInvalid) {
			t.Fatalf("%q: %v", s, err)
		}
		if err == nil && s != "" && (s[0] < '0' || s[0] > '9') {
			t.Fatalf("%q accepted", s)
		}
	})
}
