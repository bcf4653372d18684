package console

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

var testSecret = bytes.Repeat([]byte{7}, 32)

func mustSealer(t testing.TB, secret []byte) *sealer {
	t.Helper()
	s, err := newSealer(secret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSealOpenRoundTrip(t *testing.T) {
	k := mustSealer(t, testSecret)
	now := time.Unix(1_800_000_000, 0)
	in := session{issued: now, expires: now.Add(time.Hour), sid: newSID(), token: "lpk_secret"}
	v := k.seal(in)
	if strings.Contains(v, "lpk_") || strings.ContainsAny(v, ";, \"") {
		t.Fatalf("cookie value leaks the token or is not cookie-safe: %q", v)
	}
	out, err := k.open(v, now.Add(59*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if out.token != in.token || out.sid != in.sid || !out.expires.Equal(in.expires) || !out.issued.Equal(in.issued) {
		t.Fatalf("round trip: got %+v, want %+v", out, in)
	}
	if v2 := k.seal(in); v2 == v {
		t.Fatal("two seals of one session are equal: nonce not random")
	}
}

func TestOpenRefusesExpiredTamperedForgedMalformed(t *testing.T) {
	k := mustSealer(t, testSecret)
	now := time.Unix(1_800_000_000, 0)
	good := k.seal(session{issued: now, expires: now.Add(time.Hour), sid: newSID(), token: "lpa_admin"})

	if _, err := k.open(good, now.Add(time.Hour)); err != errCookieExpired {
		t.Errorf("at expiry: %v, want expired", err)
	}
	// Tampered: every single-byte change of the sealed bytes is refused.
	raw, _ := base64.RawURLEncoding.DecodeString(good)
	for i := range raw {
		b := bytes.Clone(raw)
		b[i] ^= 0x01
		if _, err := k.open(base64.RawURLEncoding.EncodeToString(b), now); err == nil {
			t.Fatalf("byte %d flipped: accepted", i)
		}
	}
	// Truncated / extended.
	for _, v := range []string{good[:len(good)-1], good + "A", good[:20]} {
		if _, err := k.open(v, now); err == nil {
			t.Errorf("%q accepted", v)
		}
	}
	// Forged: sealed with another key.
	other := mustSealer(t, bytes.Repeat([]byte{8}, 32))
	forged := other.seal(session{issued: now, expires: now.Add(time.Hour), sid: newSID(), token: "lpa_admin"})
	if _, err := k.open(forged, now); err != errCookieForged {
		t.Errorf("forged: %v, want forged", err)
	}
	for _, v := range []string{"", "not base64!", strings.Repeat("A", 5000), "AAAA"} {
		if _, err := k.open(v, now); err != errCookieMalformed {
			t.Errorf("%.20q: %v, want malformed", v, err)
		}
	}
	// An empty token inside a validly sealed cookie is refused too.
	empty := k.seal(session{issued: now, expires: now.Add(time.Hour), sid: newSID()})
	if _, err := k.open(empty, now); err != errCookieMalformed {
		t.Errorf("empty token: %v, want malformed", err)
	}
}

func TestCSRFIsBoundToTheSessionAndKey(t *testing.T) {
	k := mustSealer(t, testSecret)
	a, b := newSID(), newSID()
	if !k.checkCSRF(a, k.csrf(a)) {
		t.Fatal("own token refused")
	}
	if k.checkCSRF(a, k.csrf(b)) {
		t.Fatal("another session's token accepted")
	}
	if k.checkCSRF(a, "") {
		t.Fatal("empty token accepted")
	}
	other := mustSealer(t, bytes.Repeat([]byte{9}, 32))
	if k.checkCSRF(a, other.csrf(a)) {
		t.Fatal("token derived with another key accepted")
	}
	if _, err := newSealer(make([]byte, 31)); err == nil {
		t.Fatal("short secret accepted")
	}
}

// FuzzOpenCookie: the decoder never panics and accepts only what the sealer
// made; whatever opens re-seals to a cookie that opens to the same session.
func FuzzOpenCookie(f *testing.F) {
	k := mustSealer(f, testSecret)
	now := time.Unix(1_800_000_000, 0)
	f.Add(k.seal(session{issued: now, expires: now.Add(time.Hour), sid: newSID(), token: "lpk_x"}))
	f.Add("")
	f.Add("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("%%%")
	f.Fuzz(func(t *testing.T, v string) {
		s, err := k.open(v, now)
		if err != nil {
			return
		}
		if s.token == "" || len(s.token) > MaxTokenLen || !now.Before(s.expires) {
			t.Fatalf("opened an invalid session %+v", s)
		}
		back, err := k.open(k.seal(s), now)
		if err != nil || back != s {
			t.Fatalf("re-seal: %+v %v, want %+v", back, err, s)
		}
	})
}

// FuzzOpenTicket: the ticket decoder never panics, accepts only what the
// sealer made, and what opens re-seals to a ticket that opens the same.
func FuzzOpenTicket(f *testing.F) {
	k := mustSealer(f, testSecret)
	now := time.Unix(1_800_000_000, 0)
	f.Add(k.sealTicket(ticket{expires: now.Add(TicketTTL), sid: newSID(), device: "dev-1", token: "lpk_x"}))
	f.Add(k.sealTicket(ticket{expires: now.Add(TicketTTL), device: "", token: ""}))
	f.Add("")
	f.Add("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("%%%")
	f.Fuzz(func(t *testing.T, v string) {
		tk, err := k.openTicket(v, now)
		if err != nil {
			return
		}
		if tk.token == "" || !now.Before(tk.expires) {
			t.Fatalf("opened an invalid ticket %+v", tk)
		}
		back, err := k.openTicket(k.sealTicket(tk), now)
		if err != nil || back.device != tk.device || back.token != tk.token || back.sid != tk.sid || back.tid != tk.tid ||
			!back.expires.Equal(tk.expires) {
			t.Fatalf("re-seal: %+v %v, want %+v", back, err, tk)
		}
	})
}
