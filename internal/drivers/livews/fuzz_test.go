package livews

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// FuzzParseRequest feeds the handshake's inputs (query, Authorization,
// Sec-WebSocket-Protocol, Origin) to the parser: it must never panic, never
// take a token from the query, and what it accepts must be consistent.
func FuzzParseRequest(f *testing.F) {
	f.Add("deviceId=0190a6f0-0000-7000-8000-000000000000&last=10", "Bearer lpk_abc", "", "")
	f.Add("deviceId=0190a6f0-0000-7000-8000-000000000000&seq=18446744073709551615&epoch=18a4c2f1e0b2d3c4", "", "liveplane.v1, bearer.lpk_x", "https://a.example")
	f.Add("deviceId=x&token=y", "bearer", "bearer.", "null")
	f.Add("%zz&deviceId=;", "Basic Zm9v", ",,, ,liveplane.v1", "")
	f.Add("deviceId=0190a6f0-0000-7000-8000-000000000000&deviceId=0190a6f0-0000-7000-8000-000000000000", "Bearer  ", "bearer.a,bearer.b,liveplane.v1", "*")
	f.Fuzz(func(t *testing.T, rawQuery, authz, proto, origin string) {
		r := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/ws", RawQuery: rawQuery}, Header: http.Header{}}
		if authz != "" {
			r.Header.Set("Authorization", authz)
		}
		if proto != "" {
			r.Header.Set("Sec-WebSocket-Protocol", proto)
		}
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		_ = originAllowed(r, []string{"https://console.example.com"})
		req, rf := parseRequest(r)
		if rf != nil {
			if rf.status != http.StatusBadRequest || rf.msg == "" {
				t.Fatalf("refusal %+v", rf)
			}
			return
		}
		q, _ := url.ParseQuery(rawQuery)
		if req.token != "" && (strings.Contains(rawQuery, req.token) && !strings.Contains(authz, req.token) && !strings.Contains(proto, req.token)) {
			t.Fatalf("token %q taken from the query", req.token)
		}
		if q.Get("deviceId") != req.deviceID {
			t.Fatalf("device %q, query says %q", req.deviceID, q.Get("deviceId"))
		}
		if req.open.Resume && (!validEpoch(req.open.Epoch) || req.open.Last != 0) {
			t.Fatalf("accepted resume %+v", req.open)
		}
		if req.open.Last < 0 || req.open.Last > 1000 {
			t.Fatalf("last %d", req.open.Last)
		}
	})
}

func FuzzLineFrame(f *testing.F) {
	f.Add([]byte(`{"deviceId":"d","message":"m"}`), uint64(7), uint64(3), "abc")
	f.Add([]byte(`{}`), uint64(1), uint64(0), "e")
	f.Add([]byte(` { } `), uint64(1), uint64(0), "e")
	f.Add([]byte(`[1]`), uint64(1), uint64(0), "e\"")
	f.Fuzz(func(t *testing.T, body []byte, seq, prev uint64, epoch string) {
		f := lineFrame(lineEntry(body, seq, prev, epoch))
		if f == nil {
			return
		}
		b := framePayload(f)
		if f[0] != 0x81 {
			t.Fatalf("frame header %x", f[:2])
		}
		if !jsonValid(body) {
			return // garbage in, garbage out: the publisher only stores marshalled lines
		}
		if !jsonValid(b) {
			t.Fatalf("frame %s of body %s is not JSON", b, body)
		}
	})
}
