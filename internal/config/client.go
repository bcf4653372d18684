package config

import (
	"errors"
	"flag"
	"log/slog"
)

// Client configures the CLI nouns (`liveplane accounts create`, ...), which
// talk to serve's management API.
type Client struct {
	Server string // serve's HTTP address
	Token  string // API credential
	Output string // table|json

	prov provenance
}

func (c *Client) settings() []setting {
	return []setting{
		{name: "server", def: "http://127.0.0.1:8080", val: stringValue{&c.Server},
			help: "`URL` of the liveplane server's management API"},
		{name: "token", secret: secretToken, val: stringValue{&c.Token},
			help: "API `token`; prefer the environment variable, the command line is visible to other users"},
		{name: "output", def: "table", val: stringValue{&c.Output},
			help: "output `format`: table or json"},
	}
}

// RegisterClient defines the client flags (server, token, output, config) on
// fs, next to the noun command's own flags. The command parses fs itself,
// keeping its positional arguments, then calls the returned function to
// resolve file, environment and flags into a validated Client.
func RegisterClient(fs *flag.FlagSet) func(env []string) (Client, []string, error) {
	c := new(Client)
	l := register(fs, "client", c.settings())
	return func(env []string) (Client, []string, error) {
		if !fs.Parsed() {
			return Client{}, nil, errors.New("config: RegisterClient's loader called before the FlagSet was parsed")
		}
		prov, warnings, err := l.load(env)
		c.prov = prov
		return *c, warnings, errors.Join(err, c.Validate())
	}
}

// Validate reports every problem in c, one line each, joined.
func (c Client) Validate() error {
	v := &validator{settings: c.settings(), prov: c.prov}
	v.check("server", checkHTTPURL(c.Server))
	v.check("output", checkOneOf(c.Output, "table", "json"))
	return v.err()
}

// String lists the effective settings with their sources, secrets masked.
func (c Client) String() string { return render(c.settings(), c.prov) }

// LogValue makes slog print c masked, whichever handler is used.
func (c Client) LogValue() slog.Value { return logValue(c.settings()) }
