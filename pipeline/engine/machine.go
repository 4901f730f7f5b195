package engine

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// Machine is the capacity the scheduler shares between running stages.
type Machine struct {
	CPUs   int
	Memory int64 // bytes
	GPUs   int
}

// withDefaults fills zero fields from the running machine.
func (m Machine) withDefaults() Machine {
	if m.CPUs <= 0 {
		m.CPUs = runtime.NumCPU()
	}
	if m.Memory <= 0 {
		m.Memory = totalMemory()
	}
	if m.GPUs <= 0 {
		m.GPUs = countGPUs()
	}
	return m
}

// totalMemory reads MemTotal from /proc/meminfo; 0 when unknown (memory is
// then not limited).
func totalMemory() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 0
}

// countGPUs counts NVIDIA GPUs, honouring CUDA_VISIBLE_DEVICES.
func countGPUs() int {
	if v, ok := os.LookupEnv("CUDA_VISIBLE_DEVICES"); ok {
		if strings.TrimSpace(v) == "" {
			return 0
		}
		return len(strings.Split(v, ","))
	}
	entries, err := os.ReadDir("/proc/driver/nvidia/gpus")
	if err != nil {
		return 0
	}
	return len(entries)
}
