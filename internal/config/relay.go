package config

import (
	"errors"
	"flag"
	"log/slog"
	"time"
)

// Relay configures `liveplane relay`, the browser-facing live-log relay.
type Relay struct {
	Listen         string   // where browsers connect
	Upstream       string   // serve's HTTP address
	ServiceToken   string   // the relay's credential towards serve
	AllowedOrigins []string // browser origins accepted; empty = same origin only
	ReconnectMin   time.Duration
	ReconnectMax   time.Duration
	Linger         time.Duration
	LogLevel       string
	LogFormat      string

	prov provenance
}

func (r *Relay) settings() []setting {
	return append([]setting{
		{name: "listen", def: "127.0.0.1:8090", val: stringValue{&r.Listen},
			help: "TCP `address` (host:port) browsers connect to"},
		{name: "upstream", def: "http://127.0.0.1:8080", val: stringValue{&r.Upstream},
			help: "`URL` of serve's HTTP address (its --http)"},
		{name: "service-token", secret: secretToken, val: stringValue{&r.ServiceToken},
			help: "`token` the relay presents to serve when it opens a device's stream"},
		{name: "allowed-origins", val: listValue{&r.AllowedOrigins},
			help: "browser `origins` allowed to connect (comma-separated, such as https://console.example.com, or *); empty allows only the relay's own origin"},
		{name: "reconnect-min", def: "100ms", val: durationValue{&r.ReconnectMin},
			help: "first upstream reconnect delay ceiling (exponential backoff with full jitter)"},
		{name: "reconnect-max", def: "10s", val: durationValue{&r.ReconnectMax},
			help: "largest upstream reconnect delay"},
		{name: "linger", def: "5s", val: durationValue{&r.Linger},
			help: "keep a device's upstream open this long after its last browser left, so reconnecting browsers resume from the relay's window"},
	}, logSettings(&r.LogLevel, &r.LogFormat)...)
}

// LoadRelay is LoadServe for `liveplane relay`.
func LoadRelay(fs *flag.FlagSet, args, env []string) (Relay, []string, error) {
	var r Relay
	l := register(fs, "relay", r.settings())
	if err := parseArgs(fs, "relay", args); err != nil {
		return Relay{}, nil, err
	}
	prov, warnings, err := l.load(env)
	r.prov = prov
	return r, warnings, errors.Join(err, r.Validate())
}

// Validate reports every problem in r, one line each, joined.
func (r Relay) Validate() error {
	v := &validator{settings: r.settings(), prov: r.prov}
	v.check("listen", checkHostPort(r.Listen))
	v.check("upstream", checkHTTPURL(r.Upstream))
	for _, o := range r.AllowedOrigins {
		if err := checkOrigin(o); err != nil {
			v.check("allowed-origins", errors.New("entry "+quote(o)+": "+err.Error()))
		}
	}
	if r.ReconnectMin <= 0 || r.ReconnectMax < r.ReconnectMin {
		v.check("reconnect-max", errors.New("want 0 < reconnect-min <= reconnect-max"))
	}
	if r.Linger < 0 {
		v.check("linger", errors.New("want a duration >= 0"))
	}
	checkLogging(v, r.LogLevel, r.LogFormat)
	return v.err()
}

// String lists the effective settings with their sources, secrets masked.
func (r Relay) String() string { return render(r.settings(), r.prov) }

// LogValue makes slog print r masked, whichever handler is used.
func (r Relay) LogValue() slog.Value { return logValue(r.settings()) }
