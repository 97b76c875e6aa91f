package capture

import (
	"errors"
	"fmt"
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// socketBuffer is the receive buffer asked of the kernel: bursts queue here
// while the decoder catches up (SO_RCVBUFFORCE when the agent has
// CAP_NET_ADMIN, else capped by net.core.rmem_max).
const socketBuffer = 16 << 20

// frameBuffer holds the largest frame: with GRO/GSO a bridge passes TCP
// segments of up to 64 KiB (more with BIG TCP), and a truncated one would
// be a gap.
const frameBuffer = 256 << 10

// source is an AF_PACKET socket on one interface, in promiscuous mode: on a
// Linux bridge that makes the bridge hand up a copy of every frame it
// forwards between its ports, so one socket on a Docker network's bridge
// sees the traffic between all of its containers (once), plus what enters
// and leaves through the host.
type source struct {
	fd    int
	iface string
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
	ok := false
	defer func() {
		if !ok {
			unix.Close(fd)
		}
	}()
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
		return nil, fmt.Errorf("bind to %s: %w", iface, err)
	}
	mreq := unix.PacketMreq{Ifindex: int32(ifi.Index), Type: unix.PACKET_MR_PROMISC}
	if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq); err != nil {
		return nil, fmt.Errorf("promiscuous mode on %s: %w", iface, err)
	}
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, socketBuffer) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, socketBuffer)
	}
	// Reads wake up at least this often, so a stopped capture is noticed.
	tv := unix.NsecToTimeval(int64(200 * time.Millisecond))
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return nil, err
	}
	ok = true
	return &source{fd: fd, iface: iface}, nil
}

// read returns the next frame's length, or 0 when the read timed out.
func (s *source) read(buf []byte) (int, error) {
	n, _, err := unix.Recvfrom(s.fd, buf, 0)
	if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
		return 0, nil
	}
	return n, err
}

// drops returns the frames the kernel dropped since the last call.
func (s *source) drops() uint64 {
	st, err := unix.GetsockoptTpacketStats(s.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return 0
	}
	return uint64(st.Drops)
}

func (s *source) close() error { return unix.Close(s.fd) }
