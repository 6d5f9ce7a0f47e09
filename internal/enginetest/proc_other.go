//go:build !linux

package enginetest

import "os/exec"

func configureCmd(cmd *exec.Cmd) {}
