package console

import (
	"strings"
	"testing"
)

// Content types come from the console's own table: every embedded file has
// one, and a file type the table lacks stops the console from starting
// rather than being served as something the browser refuses.
func TestAssetContentTypes(t *testing.T) {
	a, err := loadAssets("")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"style.css": "text/css; charset=utf-8", "app.js": "text/javascript; charset=utf-8", "icon.svg": "image/svg+xml"}
	for name, ctype := range want {
		if as := a.byName[name]; as == nil || as.ctype != ctype {
			t.Errorf("%s: %+v, want %s", name, as, ctype)
		}
	}
	if a.index.ctype != "text/html; charset=utf-8" {
		t.Errorf("index: %s", a.index.ctype)
	}
	if _, err := newAsset("font.woff2", []byte("x")); err == nil || !strings.Contains(err.Error(), `".woff2"`) {
		t.Errorf("unknown type: %v", err)
	}
}
