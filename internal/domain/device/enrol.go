package device

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/account"
)

// Fleet enrolment: an uplink from a device id nobody knows, carrying a
// provisioning key instead of a credential, creates the device in the key's
// account. Its key is derived (HMAC of the installation secret, like the
// PSK), so any replica can give the same answer to a retransmission of the
// enrolling uplink, within EnrolWindow of the creation. The device is
// created once: a unique primary key in the store, and on one replica
// concurrent enrolments of one id share one transaction.

// EnrolWindow is how long after its creation an enrolled device may be
// answered its credentials again (retransmissions of the first uplink, a
// lost reply); afterwards the provisioning key is refused for that id.
const EnrolWindow = ReplyWindow

type enrolled struct {
	d        Device
	key, psk string
}

// provKeyCache spares a fleet enrolling at once with one key a read per
// device. Entries live one second; nothing it answers outlives a
// revocation: a new enrolment checks the key (revoked, expired, uses left)
// again in its own transaction, and a re-answer reads the key fresh.
type provKeyCache struct {
	mu sync.Mutex
	m  map[string]provKeyEntry
}

type provKeyEntry struct {
	k  ProvisioningKey
	at time.Time
}

const provKeyTTL, provKeyMax = time.Second, 1024

// get reads the key with this hash: from the cache when fresh is false and
// its entry is younger than provKeyTTL, else from the store (keeping what
// it read).
func (c *provKeyCache) get(ctx context.Context, store Store, hash string, fresh bool) (ProvisioningKey, error) {
	now := time.Now()
	if !fresh {
		c.mu.Lock()
		e, ok := c.m[hash]
		c.mu.Unlock()
		if ok && now.Sub(e.at) < provKeyTTL {
			return e.k, nil
		}
	}
	k, err := store.ProvisioningKeyByHash(ctx, hash)
	if err != nil {
		return k, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= provKeyMax {
		c.m = map[string]provKeyEntry{}
	}
	c.m[hash] = provKeyEntry{k: k, at: now}
	c.mu.Unlock()
	return k, nil
}

func (c *provKeyCache) forget() {
	c.mu.Lock()
	c.m = nil
	c.mu.Unlock()
}

// enrolments is a per-id single flight.
type enrolments struct {
	mu sync.Mutex
	m  map[string]*enrolCall
}

type enrolCall struct {
	done chan struct{}
	res  enrolled
	err  error
}

// enrol authenticates an uplink that carries a provisioning key. Every
// failure is the same CodeUnauthenticated (4.01): another account's key, a
// revoked, expired or used-up key, or an id enrolled elsewhere.
func (in *ingester) enrol(ctx context.Context, op string, u Uplink) (enrolled, error) {
	deny := denied(op)
	if !strings.HasPrefix(u.ProvisioningKey, provKeyPrefix) || !domain.ValidID(u.DeviceID) {
		return enrolled{}, deny
	}
	k, err := in.provKey(ctx, op, u.ProvisioningKey, false)
	if err != nil {
		return enrolled{}, err
	}
	now := in.s.clock.Now()
	if d, err := in.devices.get(ctx, u.DeviceID); err == nil {
		return in.reanswerFresh(ctx, op, d, u.ProvisioningKey, now)
	}
	flight := u.DeviceID + "/" + k.ID
	in.enrolling.mu.Lock()
	if in.enrolling.m == nil {
		in.enrolling.m = map[string]*enrolCall{}
	}
	if c, ok := in.enrolling.m[flight]; ok {
		in.enrolling.mu.Unlock()
		select {
		case <-c.done:
			return c.res, c.err
		case <-ctx.Done():
			return enrolled{}, ctx.Err()
		}
	}
	c := &enrolCall{done: make(chan struct{})}
	in.enrolling.m[flight] = c
	in.enrolling.mu.Unlock()
	c.res, c.err = in.create(ctx, op, u, k, now)
	in.enrolling.mu.Lock()
	delete(in.enrolling.m, flight)
	in.enrolling.mu.Unlock()
	close(c.done)
	return c.res, c.err
}

// provKey reads the provisioning key secret names, through the one-second
// cache unless fresh; an unknown key is the same 4.01 as every other
// enrolment failure.
func (in *ingester) provKey(ctx context.Context, op, secret string, fresh bool) (ProvisioningKey, error) {
	k, err := in.provKeys.get(ctx, in.s.store, HashKey(secret), fresh)
	if domain.Is(err, domain.CodeNotFound) {
		return k, denied(op)
	}
	if err != nil {
		return k, domain.Wrap(op, err)
	}
	return k, nil
}

// reanswerFresh is reanswer with the key read from the store, not from
// the one-second cache: a revocation on any replica must stop the key from
// handing out credentials at once. Re-answers are rare (copies of an
// enrolling uplink), so the read is cheap.
func (in *ingester) reanswerFresh(ctx context.Context, op string, d Device, secret string, now time.Time) (enrolled, error) {
	k, err := in.provKey(ctx, op, secret, true)
	if err != nil {
		return enrolled{}, err
	}
	return in.reanswer(ctx, op, d, k, now)
}

// reanswer gives an enrolled device its credentials again, only for a key
// of its own account and only within EnrolWindow of its enrolment.
func (in *ingester) reanswer(ctx context.Context, op string, d Device, k ProvisioningKey, now time.Time) (enrolled, error) {
	deny := denied(op)
	if d.EnrolledWith == "" || d.AccountID != k.AccountID || d.Disabled || now.Sub(d.CreatedAt) > EnrolWindow || !k.RevokedAt.IsZero() {
		return enrolled{}, deny
	}
	key, err := in.s.psks.deviceKey(ctx, d.ID, d.KeyGeneration)
	if err != nil {
		return enrolled{}, err
	}
	psk, err := in.s.psks.derive(ctx, d.ID, d.KeyGeneration)
	if err != nil {
		return enrolled{}, err
	}
	if !keyMatches(key, d.KeyHash) {
		return enrolled{}, deny // its key was rotated since
	}
	// This replica may hold a cached miss for the id (its copy lost the
	// race to another replica): the device's next uplink must find it.
	in.devices.set(d.ID, cached{d: d, found: true, at: time.Now()})
	return enrolled{d: d, key: key, psk: psk}, nil
}

func (in *ingester) create(ctx context.Context, op string, u Uplink, k ProvisioningKey, now time.Time) (enrolled, error) {
	deny := denied(op)
	s := in.s
	d := Device{
		ID: u.DeviceID, AccountID: k.AccountID, Name: u.DeviceID, KeyGeneration: 1,
		Generation: 1, EnrolledWith: k.ID, CreatedAt: now, UpdatedAt: now,
	}
	key, err := s.psks.deviceKey(ctx, d.ID, d.KeyGeneration)
	if err != nil {
		return enrolled{}, err
	}
	psk, err := s.psks.derive(ctx, d.ID, d.KeyGeneration)
	if err != nil {
		return enrolled{}, err
	}
	d.KeyHash = HashKey(key)
	err = s.store.Update(ctx, func(tx Tx) error {
		// No read of the id first: the insert's primary key decides (a
		// conflict means another transaction enrolled it; see below).
		a, err := tx.Account(ctx, k.AccountID)
		if domain.Is(err, domain.CodeNotFound) || err == nil && a.State == account.StateDeleting {
			return deny
		}
		if err != nil {
			return err
		}
		if err := tx.UseProvisioningKey(ctx, k.ID, now); domain.Is(err, domain.CodeNotFound) {
			return deny
		} else if err != nil {
			return err
		}
		def, err := tx.Defaults(ctx, k.AccountID)
		if err != nil {
			return err
		}
		if err := tx.InsertDevice(ctx, d); err != nil {
			return err
		}
		t, changes := Seed(d.ID, d.AccountID, ReportOf(u), def, now)
		if err := tx.PutTwin(ctx, t); err != nil {
			return err
		}
		for i := range changes {
			changes[i].ID = domain.NewID()
		}
		if err := tx.AppendConfigChanges(ctx, changes...); err != nil {
			return err
		}
		return tx.Append(ctx, deviceEvent(EventCreated, d, now),
			configEvent(t, def, t.State(def, s.stuckAfter), now))
	})
	if domain.Is(err, domain.CodeConflict) || domain.Is(err, domain.CodeUnauthenticated) {
		// The id exists (enrolled by a racing replica, which may also have
		// taken a limited key's last use), or the key is not usable:
		// answer as for a retransmission, or refuse.
		cur, rerr := s.store.Device(ctx, d.ID)
		if domain.Is(rerr, domain.CodeNotFound) {
			return enrolled{}, deny
		}
		if rerr != nil {
			return enrolled{}, domain.Wrap(op, rerr)
		}
		return in.reanswerFresh(ctx, op, cur, u.ProvisioningKey, now)
	}
	if err != nil {
		return enrolled{}, domain.Wrap(op, err)
	}
	in.devices.set(d.ID, cached{d: d, found: true, at: time.Now()})
	in.live.Publish(d.ID, Line{DeviceID: d.ID, Timestamp: now, Type: "config",
		Message: "Device enrolled with provisioning key " + k.ID})
	return enrolled{d: d, key: key, psk: psk}, nil
}

// deviceKey derives an enrolled device's key: "lpd_" + base64url(HMAC-
// SHA256(secret, "liveplane/device-key/v1" | id | generation)). Devices
// made with `devices create` have random keys instead.
func (p *psks) deviceKey(ctx context.Context, deviceID string, generation int64) (string, error) {
	if _, err := p.derive(ctx, deviceID, generation); err != nil { // loads the secret
		return "", err
	}
	p.mu.Lock()
	secret := p.secret
	p.mu.Unlock()
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("liveplane/device-key/v1\x00" + deviceID + "\x00" + strconv.FormatInt(generation, 10)))
	return keyPrefix + base64.RawURLEncoding.EncodeToString(m.Sum(nil)), nil
}

// denied is the one answer to every failed authentication (4.01): which
// check failed is not the sender's business.
func denied(op string) error {
	return domain.Errorf(domain.CodeUnauthenticated, op, "unknown device or bad credential")
}
