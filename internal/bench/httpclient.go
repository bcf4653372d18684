package bench

import (
	"net/http"
	"time"
)

// NewHTTPClient returns a client for driving one server with up to conns
// requests at once. Every request gets a kept-alive connection (idle limits
// match the connection limit), so connection setup is paid once in warm-up
// and not in every latency; beyond conns, requests queue in the transport.
// There is no client timeout: Run's context bounds each operation.
func NewHTTPClient(conns int) *http.Client {
	conns = max(conns, 1)
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil // benchmark traffic goes straight to the server under test
	t.MaxIdleConns = conns
	t.MaxIdleConnsPerHost = conns
	t.MaxConnsPerHost = conns
	t.IdleConnTimeout = 90 * time.Second
	t.DisableCompression = true // tiny payloads; gzip would only add CPU on both sides
	return &http.Client{Transport: t}
}
