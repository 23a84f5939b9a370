//go:build !linux

package kafkacluster

import "syscall"

// dieWithParent does nothing where there is no parent-death signal: the
// brokers are stopped by Stop (t.Cleanup, StopShared) only.
func dieWithParent(*syscall.SysProcAttr) {}
