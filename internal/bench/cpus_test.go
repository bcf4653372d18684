package bench

import (
	"slices"
	"testing"
)

func TestParseCPUs(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []int
	}{
		{"0", []int{0}},
		{"0,2-3", []int{0, 2, 3}},
		{" 3, 1 ,2-2", []int{1, 2, 3}},
		{"4-6,5", []int{4, 5, 6}},
		{"1023", []int{1023}},
	} {
		got, err := ParseCPUs(tc.in)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("ParseCPUs(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		if back, _ := ParseCPUs(FormatCPUs(got)); !slices.Equal(back, got) {
			t.Errorf("FormatCPUs(%v) = %q does not parse back", got, FormatCPUs(got))
		}
	}
	for _, bad := range []string{"", " ", "a", "1,", ",1", "-1", "3-1", "1-", "1-2-3", "1024", "0-99999999", "1.5"} {
		if got, err := ParseCPUs(bad); err == nil {
			t.Errorf("ParseCPUs(%q) = %v, want an error", bad, got)
		}
	}
	if got := FormatCPUs([]int{5, 0, 1, 2, 7, 8, 2}); got != "0-2,5,7-8" {
		t.Errorf("FormatCPUs = %q, want 0-2,5,7-8", got)
	}
}
