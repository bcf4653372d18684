//go:build !linux

package app

func dropExecutablePages() (int, error) { return 0, nil }
