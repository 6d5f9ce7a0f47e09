// Package fault lets a test build of the daemon die with SIGKILL at named points of its
// protocols, so a fault suite can prove that whatever a crash interrupts, a retry recovers.
//
// It does nothing in a normal build. Only a binary built with the build tag faultinject
// (go build -tags faultinject ./cmd/worker) reads EnvKill and can kill itself; a production
// binary cannot, whatever its environment says.
package fault

// EnvKill names the environment variable of a faultinject build that says where to die (a
// WAITROOM_TEST_ name: the daemon's configuration ignores those, see config.LoadEnviron): a
// comma-separated list of point=prefix rules, e.g.
// "start.after-insert=kill-a-,start.after-engine=kill-b-". The process kills itself with
// SIGKILL when it reaches a point for an id that starts with the rule's prefix.
const EnvKill = "WAITROOM_TEST_FAULT_KILL"

// EnvOnceDir names the environment variable of a faultinject build that makes each kill
// happen once: a directory shared by the processes under test, where a process marks a
// point and id (an exclusively created file) before it dies for them. A retry that passes
// the same point for the same id, in any of those processes, goes on. Without it a point
// before any write (start.before-insert) would kill every replica the retry reaches.
const EnvOnceDir = "WAITROOM_TEST_FAULT_ONCE_DIR"
