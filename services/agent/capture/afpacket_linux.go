package capture

import (
	"encoding/binary"
	"fmt"
	"net"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The receive ring (TPACKET_V3): the kernel writes frames into blocks of a
// memory map shared with the agent and hands over a block when it is full or
// blockTimeout has passed, so a busy interface costs one wake-up per block
// instead of one system call per frame. Frames carry the kernel's receive
// time stamp, so latencies do not depend on when the block was read.
const (
	blockSize    = 1 << 20 // holds the largest GRO/GSO frames (64 KiB and more)
	blockCount   = 16      // 16 MiB: bursts queue here while the decoder catches up
	frameSize    = 1 << 11 // TPACKET_V3 frames are variable; this only sizes frame_nr
	blockTimeout = 50      // ms; well under the flush interval
	pollTimeout  = 200     // ms: how often a stopped capture is noticed
)

// source is a packet socket with a receive ring on one interface, in
// promiscuous mode: on a Linux bridge that makes the bridge hand up a copy of
// every frame it forwards between its ports, so one socket on a Docker
// network's bridge sees the traffic between all of its containers (once),
// plus what enters and leaves through the host. A socket filter keeps only
// TCP segments that carry data or open or close a connection: bare ACKs, the
// bulk of the rest, never leave the kernel.
type source struct {
	fd    int
	iface string
	ring  []byte
	block int // the block to read next
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func openSource(iface string) (*source, error) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		return nil, fmt.Errorf("AF_PACKET socket (needs CAP_NET_RAW): %w", err)
	}
	s := &source{fd: fd, iface: iface}
	ok := false
	defer func() {
		if !ok {
			s.close()
		}
	}()
	prog := segmentFilter()
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}); err != nil {
		return nil, fmt.Errorf("socket filter: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return nil, fmt.Errorf("TPACKET_V3: %w", err)
	}
	req := unix.TpacketReq3{
		Block_size:     blockSize,
		Block_nr:       blockCount,
		Frame_size:     frameSize,
		Frame_nr:       blockSize / frameSize * blockCount,
		Retire_blk_tov: blockTimeout,
	}
	if err := unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return nil, fmt.Errorf("receive ring: %w", err)
	}
	if s.ring, err = unix.Mmap(fd, 0, blockSize*blockCount, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err != nil {
		return nil, fmt.Errorf("map the receive ring: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
		return nil, fmt.Errorf("bind to %s: %w", iface, err)
	}
	mreq := unix.PacketMreq{Ifindex: int32(ifi.Index), Type: unix.PACKET_MR_PROMISC}
	if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq); err != nil {
		return nil, fmt.Errorf("promiscuous mode on %s: %w", iface, err)
	}
	ok = true
	return s, nil
}

// Offsets in a block (struct tpacket_block_desc, then tpacket_hdr_v1) and in
// a frame's header (struct tpacket3_hdr).
const (
	blockStatusOff = 8
	blockNumOff    = 12
	blockFirstOff  = 16
	frameNextOff   = 0
	frameSecOff    = 4
	frameNsecOff   = 8
	frameSnapOff   = 12
	frameMacOff    = 24
)

// read hands every frame of the next ready block to fn, then returns the
// block to the kernel; with no block ready it waits up to pollTimeout.
func (s *source) read(fn func(frame []byte, t time.Time)) error {
	b := s.ring[s.block*blockSize : (s.block+1)*blockSize]
	status := (*uint32)(unsafe.Pointer(&b[blockStatusOff]))
	if atomic.LoadUint32(status)&unix.TP_STATUS_USER == 0 {
		fds := []unix.PollFd{{Fd: int32(s.fd), Events: unix.POLLIN | unix.POLLERR}}
		if _, err := unix.Poll(fds, pollTimeout); err != nil && err != unix.EINTR {
			return err
		}
		return nil
	}
	le := binary.NativeEndian
	n := le.Uint32(b[blockNumOff:])
	off := le.Uint32(b[blockFirstOff:])
	for i := uint32(0); i < n && int(off) < len(b); i++ {
		h := b[off:]
		mac := uint32(le.Uint16(h[frameMacOff:]))
		snap := le.Uint32(h[frameSnapOff:])
		if end := off + mac + snap; int(end) <= len(b) {
			t := time.Unix(int64(le.Uint32(h[frameSecOff:])), int64(le.Uint32(h[frameNsecOff:])))
			fn(b[off+mac:end], t)
		}
		next := le.Uint32(h[frameNextOff:])
		if next == 0 {
			break
		}
		off += next
	}
	atomic.StoreUint32(status, unix.TP_STATUS_KERNEL)
	s.block = (s.block + 1) % blockCount
	return nil
}

// drops returns the frames the kernel dropped (ring full) since the last call.
func (s *source) drops() uint64 {
	st, err := unix.GetsockoptTpacketStats(s.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return 0
	}
	return uint64(st.Drops)
}

func (s *source) close() error {
	if s.ring != nil {
		_ = unix.Munmap(s.ring)
	}
	return unix.Close(s.fd)
}
