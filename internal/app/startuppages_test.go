package app

import (
	"strings"
	"testing"
)

func TestReadOnlyMappingsOf(t *testing.T) {
	maps := `00400000-017b4000 r-xp 00000000 00:2a 1234                               /tmp/lp
017b4000-02bd7000 r--p 013b4000 00:2a 1234                               /tmp/lp
02bd7000-02c9f000 rw-p 027d7000 00:2a 1234                               /tmp/lp
02c9f000-02cc0000 rw-p 00000000 00:00 0
7f782f950000-7f782fb10000 r--p 00000000 00:2a 99                         /usr/lib/other.so
7f782f950000-7f782fb10000 r--s 00000000 00:2a 1234                       /tmp/lp
garbage line
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]
`
	ms, err := readOnlyMappingsOf(strings.NewReader(maps), "00:2a", 1234)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].start != 0x400000 || ms[0].end != 0x17b4000 || ms[1].perms != "r--p" {
		t.Fatalf("mappings: %+v", ms)
	}
}

func TestTraced(t *testing.T) {
	for status, want := range map[string]bool{
		"Name:\tliveplane\nTracerPid:\t0\nUid:\t0\n":    false,
		"Name:\tliveplane\nTracerPid:\t4242\nUid:\t0\n": true,
		"Name:\tliveplane\n":                            false,
	} {
		if got := traced(status); got != want {
			t.Errorf("traced(%q) = %v", status, got)
		}
	}
}
