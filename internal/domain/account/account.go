// Package account is the tenant aggregate: accounts, their API keys, and who
// may do what with them.
package account

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/liveplane/liveplane/internal/domain"
)

// State is where an account stands in its lifecycle.
type State string

const (
	StateProvisioning State = "PROVISIONING"
	StateReady        State = "READY"
	StateDegraded     State = "DEGRADED"
	StateDeleting     State = "DELETING"
	// StateDeleted: finalised, every cluster reported the namespace gone.
	// The row stays as a tombstone; the name may be taken again.
	StateDeleted State = "DELETED"
)

// Account is a tenant. Name is immutable and unique: it becomes part of
// Kubernetes namespace names, so it must stay a DNS label once prefixed.
type Account struct {
	ID          string
	Name        string
	DisplayName string
	State       State
	Generation  int64  // bumped on every spec change; clusters report against it
	Quota       Quota  // applied as a ResourceQuota in every cluster when set
	Group       string // bound to the daemons' ClusterRole in every cluster when set
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Quota is the account's ResourceQuota (spec.hard) in every cluster. Zero
// fields are not limited; the zero Quota means no ResourceQuota at all.
type Quota struct {
	CPU    string // Kubernetes quantity, such as "2" or "500m"
	Memory string // Kubernetes quantity, such as "4Gi"
	Pods   int64
}

// IsZero reports whether the quota limits nothing.
func (q Quota) IsZero() bool { return q == Quota{} }

// APIKey authenticates calls for one account. Only Hash is stored.
type APIKey struct {
	ID          string
	AccountID   string
	Description string
	Hash        string
	CreatedAt   time.Time
	RevokedAt   time.Time // zero while valid
}

// Revoked reports whether the key no longer authenticates.
func (k APIKey) Revoked() bool { return !k.RevokedAt.IsZero() }

// Limits on account fields; the schema documents the same numbers.
const (
	MaxNameLen        = 40 // leaves room for a "lp-" prefix within a 63-byte DNS label
	MaxDisplayNameLen = 200
	MaxDescriptionLen = 200
	MaxGroupLen       = 200
	MaxQuantityLen    = 32
	MaxPods           = 1_000_000
)

// ValidateName enforces RFC 1123 label rules: lower-case letters, digits and
// '-', starting with a letter, not ending with '-'.
func ValidateName(op, name string) error {
	if name == "" {
		return domain.Errorf(domain.CodeInvalid, op, "name: required")
	}
	if len(name) > MaxNameLen {
		return domain.Errorf(domain.CodeInvalid, op, "name: at most %d characters", MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		letter := c >= 'a' && c <= 'z'
		digit := c >= '0' && c <= '9'
		switch {
		case i == 0 && !letter:
			return domain.Errorf(domain.CodeInvalid, op, "name: must start with a lower-case letter")
		case !letter && !digit && c != '-':
			return domain.Errorf(domain.CodeInvalid, op, "name: only lower-case letters, digits and '-' are allowed")
		}
	}
	if name[len(name)-1] == '-' {
		return domain.Errorf(domain.CodeInvalid, op, "name: must not end with '-'")
	}
	return nil
}

func validateText(op, field, s string, max int) error {
	if !utf8.ValidString(s) {
		return domain.Errorf(domain.CodeInvalid, op, "%s: not valid UTF-8", field)
	}
	if utf8.RuneCountInString(s) > max {
		return domain.Errorf(domain.CodeInvalid, op, "%s: at most %d characters", field, max)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return domain.Errorf(domain.CodeInvalid, op, "%s: control characters are not allowed", field)
		}
	}
	return nil
}

// ValidateQuota checks each set field: quantities in Kubernetes syntax
// (digits, an optional fraction, an optional suffix m, k, M, G, T, P, E,
// Ki, Mi, Gi, Ti, Pi or Ei), pods between 0 and MaxPods.
func ValidateQuota(op string, q Quota) error {
	for _, f := range []struct{ name, v string }{{"quota.cpu", q.CPU}, {"quota.memory", q.Memory}} {
		if f.v != "" && !validQuantity(f.v) {
			return domain.Errorf(domain.CodeInvalid, op, "%s: %q is not a Kubernetes quantity (such as 2, 500m, 4Gi)", f.name, f.v)
		}
	}
	if q.Pods < 0 || q.Pods > MaxPods {
		return domain.Errorf(domain.CodeInvalid, op, "quota.pods: must be between 0 and %d", MaxPods)
	}
	return nil
}

var quantitySuffixes = map[string]bool{"": true, "m": true, "k": true, "M": true, "G": true, "T": true, "P": true,
	"E": true, "Ki": true, "Mi": true, "Gi": true, "Ti": true, "Pi": true, "Ei": true}

func validQuantity(s string) bool {
	if len(s) > MaxQuantityLen {
		return false
	}
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return false
	}
	if i < len(s) && s[i] == '.' {
		j := i + 1
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j == i+1 {
			return false
		}
		i = j
	}
	return quantitySuffixes[s[i:]]
}

// ValidateGroup checks a Kubernetes group name: printable, at most
// MaxGroupLen characters; "" means none.
func ValidateGroup(op, g string) error {
	if g != "" && strings.TrimSpace(g) != g {
		return domain.Errorf(domain.CodeInvalid, op, "group: no leading or trailing spaces")
	}
	return validateText(op, "group", g, MaxGroupLen)
}
