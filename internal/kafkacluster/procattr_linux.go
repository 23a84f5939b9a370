package kafkacluster

import "syscall"

// dieWithParent makes the kernel SIGKILL the process when the one that
// started it exits, however it exits (a test binary's timeout, a panic).
func dieWithParent(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
