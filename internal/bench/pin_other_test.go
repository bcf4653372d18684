//go:build !linux

package bench

func pinHelper() int { return 1 }
