package capture

import "golang.org/x/sys/unix"

// A classic BPF program, written with labels resolved at start-up.
type bpfIns struct {
	label  string // names this instruction as a jump target
	code   uint16
	k      uint32
	jt, jf string // jump targets of conditional jumps ("" = next)
}

// maxFrame is what the filter accepts of a frame: all of it.
const maxFrame = 1 << 18

// segmentFilter accepts TCP segments over IPv4 or IPv6 that carry payload or
// a SYN, FIN or RST flag, and VLAN-tagged frames (decoded in user space);
// it drops everything else: bare ACKs, UDP, ARP, IP fragments.
func segmentFilter() []unix.SockFilter {
	const (
		ldh  = unix.BPF_LD | unix.BPF_H | unix.BPF_ABS
		ldb  = unix.BPF_LD | unix.BPF_B | unix.BPF_ABS
		ldbx = unix.BPF_LD | unix.BPF_B | unix.BPF_IND
		ldxb = unix.BPF_LDX | unix.BPF_B | unix.BPF_MSH // X = 4*(pkt[k]&0xf)
		jeq  = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		jset = unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K
		jgtx = unix.BPF_JMP | unix.BPF_JGT | unix.BPF_X
		and  = unix.BPF_ALU | unix.BPF_AND | unix.BPF_K
		rsh  = unix.BPF_ALU | unix.BPF_RSH | unix.BPF_K
		addx = unix.BPF_ALU | unix.BPF_ADD | unix.BPF_X
		tax  = unix.BPF_MISC | unix.BPF_TAX
		ret  = unix.BPF_RET | unix.BPF_K
	)
	return assemble([]bpfIns{
		{code: ldh, k: 12}, // EtherType
		{code: jeq, k: 0x8100, jt: "accept"},
		{code: jeq, k: 0x86dd, jt: "ipv6"},
		{code: jeq, k: 0x0800, jf: "drop"},
		// IPv4: TCP, not a fragment.
		{code: ldb, k: 14 + 9},
		{code: jeq, k: 6, jf: "drop"},
		{code: ldh, k: 14 + 6},
		{code: jset, k: 0x3fff, jt: "drop"},
		{code: ldxb, k: 14},                 // X = IP header length
		{code: ldbx, k: 14 + 13},            // TCP flags
		{code: jset, k: 0x07, jt: "accept"}, // FIN, SYN, RST
		{code: ldbx, k: 14 + 12},            // TCP data offset
		{code: and, k: 0xf0},
		{code: rsh, k: 2}, // TCP header length
		{code: addx},      // + IP header length
		{code: tax},
		{code: ldh, k: 14 + 2}, // IP total length
		{code: jgtx, jt: "accept", jf: "drop"},
		// IPv6: TCP right after the fixed header.
		{label: "ipv6", code: ldb, k: 14 + 6},
		{code: jeq, k: 6, jf: "drop"},
		{code: ldb, k: 14 + 40 + 13},
		{code: jset, k: 0x07, jt: "accept"},
		{code: ldb, k: 14 + 40 + 12},
		{code: and, k: 0xf0},
		{code: rsh, k: 2},
		{code: tax},
		{code: ldh, k: 14 + 4}, // payload length
		{code: jgtx, jt: "accept", jf: "drop"},
		{label: "accept", code: ret, k: maxFrame},
		{label: "drop", code: ret, k: 0},
	})
}

func assemble(prog []bpfIns) []unix.SockFilter {
	at := map[string]int{}
	for i, in := range prog {
		if in.label != "" {
			at[in.label] = i
		}
	}
	skip := func(i int, label string) uint8 {
		if label == "" {
			return 0
		}
		j, ok := at[label]
		if !ok || j <= i {
			panic("bpf: bad jump to " + label) // a bug in the program above
		}
		return uint8(j - i - 1)
	}
	out := make([]unix.SockFilter, len(prog))
	for i, in := range prog {
		out[i] = unix.SockFilter{Code: in.code, K: in.k, Jt: skip(i, in.jt), Jf: skip(i, in.jf)}
	}
	return out
}
