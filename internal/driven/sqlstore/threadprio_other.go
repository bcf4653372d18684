//go:build !linux

package sqlstore

import "errors"

func lowerThreadPriority(int) (int, int, error) {
	return 0, 0, errors.New("per-thread priority is not supported on this system")
}
