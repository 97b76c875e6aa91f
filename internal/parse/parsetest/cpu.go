package parsetest

import (
	"syscall"
	"testing"
	"time"
)

// CPUTime is the CPU time (user and system) the process has used so far.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ReportLines reports lines/s, and lines per CPU-second of the process since
// cpu0 (CPUTime when the benchmark's loop began): on a shared machine the
// wall clock counts the time other processes held the core, the CPU time
// only the benchmark's own work (its garbage collection included).
func ReportLines(b *testing.B, lines int, cpu0 time.Duration) {
	b.ReportMetric(float64(lines)/b.Elapsed().Seconds(), "lines/s")
	if cpu := CPUTime() - cpu0; cpu > 0 {
		b.ReportMetric(float64(lines)/cpu.Seconds(), "lines/cpu-s")
	}
}
