//go:build !linux

package bench

import (
	"errors"
	"fmt"
	"os/exec"
)

// CPU pinning uses sched_setaffinity, which only Linux has.

func PinSelf(cpus []int) error { return fmt.Errorf("pin: %w off Linux", errors.ErrUnsupported) }

func PinPID(pid int, cpus []int) error { return PinSelf(cpus) }

func StartPinned(cmd *exec.Cmd, cpus []int) error { return PinSelf(cpus) }
