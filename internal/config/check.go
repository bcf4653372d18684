package config

import (
	"errors"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// The checks below validate one value each and return a short reason, or nil.
// validator (validate.go) adds the setting's name, value and source.

func checkNotEmpty(s string) error {
	if strings.TrimSpace(s) == "" {
		return errors.New("must not be empty")
	}
	return nil
}

// checkHostPort accepts "host:port" and ":port" (all interfaces). Port 0 asks
// the kernel for a free port, which tests rely on.
func checkHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return errors.New("want host:port, such as 127.0.0.1:8080 or :8080")
	}
	if err := checkPort(port); err != nil {
		return err
	}
	return checkHost(host)
}

func checkPort(port string) error {
	n, err := strconv.Atoi(port)
	if err != nil {
		return errors.New("port must be a number")
	}
	if n < 0 || n > 65535 {
		return errors.New("port out of range")
	}
	return nil
}

func checkHost(host string) error {
	if host == "" || net.ParseIP(host) != nil {
		return nil
	}
	for _, label := range strings.Split(strings.TrimSuffix(host, "."), ".") {
		if !isDNSLabel(strings.ToLower(label)) {
			return errors.New("host must be an IP address or a DNS name")
		}
	}
	return nil
}

// isLoopback reports whether a listen address is reachable only from this
// machine. An empty host means every interface, so it is not.
func isLoopback(hostPort string) bool {
	host, _, err := net.SplitHostPort(hostPort)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// isDNSLabel is RFC 1123: lower-case letters, digits and '-', 1 to 63
// characters, starting and ending with a letter or digit. Kubernetes names
// namespaces and many objects this way, and the daemon uses the cluster name
// in subjects and labels.
func isDNSLabel(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// checkNATS accepts one URL or a comma-separated cluster list; each must be
// nats:// or tls:// with a host (the port defaults to 4222).
func checkNATS(s string) error {
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return errors.New("empty entry in the comma-separated list")
		}
		u, err := url.Parse(item)
		if err != nil || u.Host == "" {
			return errors.New("want nats://host:port or tls://host:port, comma-separated for a cluster")
		}
		if u.Scheme != "nats" && u.Scheme != "tls" {
			return errors.New("scheme must be nats:// or tls://")
		}
		if err := checkURLPort(u); err != nil {
			return err
		}
	}
	return nil
}

// checkHTTPURL accepts an absolute http:// or https:// URL.
func checkHTTPURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return errors.New("want an absolute URL such as http://127.0.0.1:8080")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return errors.New("scheme must be http:// or https://")
	}
	return checkURLPort(u)
}

func checkURLPort(u *url.URL) error {
	if p := u.Port(); p != "" {
		return checkPort(p)
	}
	return nil
}

// checkOrigin accepts "*" or a browser origin: scheme://host[:port], nothing
// after it, because browsers send exactly that in the Origin header.
func checkOrigin(s string) error {
	if s == "*" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return errors.New("want an origin such as https://console.example.com, or *")
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return errors.New("an origin is scheme://host[:port] only, without path, query or credentials")
	}
	return checkURLPort(u)
}

func checkOneOf(s string, allowed ...string) error {
	for _, a := range allowed {
		if s == a {
			return nil
		}
	}
	return errors.New("must be one of " + strings.Join(allowed, ", "))
}

func checkLogLevel(s string) error  { return checkOneOf(s, "debug", "info", "warn", "error") }
func checkLogFormat(s string) error { return checkOneOf(s, "text", "json") }

func quote(s string) string { return strconv.Quote(s) }
