package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

// web holds the console as the browser gets it: no build step.
//
//go:embed web
var web embed.FS

// MaxAssetBytes bounds the total page weight (issue 9: under 300 KiB).
const MaxAssetBytes = 300 << 10

const assetPrefix = "/console/assets/"

type asset struct {
	body  []byte
	ctype string
	etag  string // quoted strong validator
	hash  string // 12 hex digits of the body's SHA-256
}

// assets are loaded once; index.html references each asset as
// /console/assets/NAME?v=HASH, which is cached for a year (immutable); the
// same asset without the current hash (module imports) is revalidated by
// ETag. index.html itself is always revalidated.
type assets struct {
	byName map[string]*asset
	index  *asset
	csp    string
}

// loadAssets reads the embedded files; relayOrigin (http[s]://host[:port],
// or "") is the one other place the page may connect to.
func loadAssets(relayOrigin string) (*assets, error) {
	connect := "'self'"
	if relayOrigin != "" {
		ws := "ws" + strings.TrimPrefix(relayOrigin, "http")
		connect += " " + relayOrigin + " " + ws
	}
	a := &assets{byName: map[string]*asset{}, csp: "default-src 'self'; img-src 'self' data:; style-src 'self'; " +
		"script-src 'self'; connect-src " + connect + "; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"}
	total := 0
	err := fs.WalkDir(web, "web", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := web.ReadFile(p)
		if err != nil {
			return err
		}
		total += len(b)
		a.byName[path.Base(p)], err = newAsset(path.Base(p), b)
		return err
	})
	if err != nil {
		return nil, err
	}
	if total > MaxAssetBytes {
		return nil, fmt.Errorf("console assets weigh %d bytes, over the %d budget", total, MaxAssetBytes)
	}
	idx, ok := a.byName["index.html"]
	if !ok {
		return nil, fmt.Errorf("console: web/index.html missing")
	}
	delete(a.byName, "index.html")
	body := idx.body
	for name, as := range a.byName {
		body = bytes.ReplaceAll(body, []byte(`"`+assetPrefix+name+`"`), []byte(`"`+assetPrefix+name+"?v="+as.hash+`"`))
	}
	a.index, err = newAsset("index.html", body)
	return a, err
}

// contentTypes are the console's asset types, fixed here rather than read
// from the host's mime tables (which differ between hosts and cost half a
// MiB of heap to load).
var contentTypes = map[string]string{
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".html": "text/html; charset=utf-8",
	".svg":  "image/svg+xml",
}

func newAsset(name string, b []byte) (*asset, error) {
	ctype, ok := contentTypes[path.Ext(name)]
	if !ok {
		return nil, fmt.Errorf("console asset %s: no content type for %q", name, path.Ext(name))
	}
	sum := sha256.Sum256(b)
	h := hex.EncodeToString(sum[:])
	return &asset{body: b, ctype: ctype, etag: `"` + h[:32] + `"`, hash: h[:12]}, nil
}

func (a *assets) serveIndex(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-cache")
	a.index.write(w, r, a.csp)
}

func (a *assets) serve(w http.ResponseWriter, r *http.Request) {
	as, ok := a.byName[r.PathValue("name")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	if r.URL.Query().Get("v") == as.hash {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	as.write(w, r, a.csp)
}

func (as *asset) write(w http.ResponseWriter, r *http.Request, csp string) {
	h := w.Header()
	h.Set("ETag", as.etag)
	h.Set("Content-Type", as.ctype)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", csp)
	if match := r.Header.Get("If-None-Match"); match != "" && etagMatch(match, as.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Length", fmt.Sprint(len(as.body)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(as.body)
}

func etagMatch(header, etag string) bool {
	for t := range strings.SplitSeq(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}
