package capture

import (
	"encoding/binary"
	"net/netip"
)

// TCP flags.
const (
	flagFIN = 0x01
	flagSYN = 0x02
	flagRST = 0x04
	flagACK = 0x10
)

// segment is a TCP segment of a captured frame; payload aliases the frame.
type segment struct {
	src, dst netip.AddrPort
	seq      uint32
	flags    uint8
	payload  []byte
}

// decodeEthernet reads an Ethernet II frame (with up to two VLAN tags)
// carrying IPv4 or IPv6 and TCP. It returns false for anything else, and for
// IP fragments (TCP over fragmented IP is rare enough to let go).
func decodeEthernet(frame []byte, s *segment) bool {
	if len(frame) < 14 {
		return false
	}
	etype := binary.BigEndian.Uint16(frame[12:])
	p := frame[14:]
	for i := 0; i < 2 && (etype == 0x8100 || etype == 0x88a8); i++ {
		if len(p) < 4 {
			return false
		}
		etype = binary.BigEndian.Uint16(p[2:])
		p = p[4:]
	}
	switch etype {
	case 0x0800:
		return decodeIPv4(p, s)
	case 0x86dd:
		return decodeIPv6(p, s)
	}
	return false
}

func decodeIPv4(p []byte, s *segment) bool {
	if len(p) < 20 || p[0]>>4 != 4 || p[9] != 6 {
		return false
	}
	ihl := int(p[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(p[2:]))
	if ihl < 20 || total < ihl || total > len(p) {
		return false
	}
	if frag := binary.BigEndian.Uint16(p[6:]); frag&0x3fff != 0 { // MF set or an offset
		return false
	}
	src := netip.AddrFrom4([4]byte(p[12:16]))
	dst := netip.AddrFrom4([4]byte(p[16:20]))
	return decodeTCP(p[ihl:total], src, dst, s)
}

func decodeIPv6(p []byte, s *segment) bool {
	if len(p) < 40 || p[0]>>4 != 6 || p[6] != 6 { // TCP directly, no extension headers
		return false
	}
	plen := int(binary.BigEndian.Uint16(p[4:]))
	if 40+plen > len(p) {
		return false
	}
	src := netip.AddrFrom16([16]byte(p[8:24]))
	dst := netip.AddrFrom16([16]byte(p[24:40]))
	return decodeTCP(p[40:40+plen], src, dst, s)
}

func decodeTCP(p []byte, src, dst netip.Addr, s *segment) bool {
	if len(p) < 20 {
		return false
	}
	off := int(p[12]>>4) * 4
	if off < 20 || off > len(p) {
		return false
	}
	s.src = netip.AddrPortFrom(src, binary.BigEndian.Uint16(p[0:]))
	s.dst = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(p[2:]))
	s.seq = binary.BigEndian.Uint32(p[4:])
	s.flags = p[13]
	s.payload = p[off:]
	return true
}
