package webhook

import (
	"errors"
	"fmt"
	"net/netip"
	"syscall"
)

// ErrForbiddenAddress is returned when the SSRF guard refuses to connect.
var ErrForbiddenAddress = errors.New("webhook: refusing to connect to a non-public address (SSRF guard; set AllowPrivateNetworks to allow)")

// specialPurpose is every block of the IANA IPv4 and IPv6 Special-Purpose
// Address Registries (RFC 6890, as updated to 2025), plus multicast and the
// deprecated IPv6 site-local block, which other registries hold. The guard
// refuses them all, including those the registry marks globally reachable
// (anycast services, AS112, AMT, ORCHIDv2, drone tags, the NAT64 well-known
// prefix): none is where a webhook receiver lives, and the translation and
// tunnelling prefixes (NAT64, 6to4, Teredo) can carry a private IPv4
// address inside a public-looking IPv6 one. Sub-blocks of a block listed
// here are listed too so that the list reads against the registry line by
// line; ssrf_test.go checks each one. IPv6 outside 2000::/3 is refused
// whether listed or not (publicAddress): IANA reserves it.
var specialPurpose = []struct {
	prefix netip.Prefix
	name   string
}{
	// IPv4 Special-Purpose Address Registry.
	{netip.MustParsePrefix("0.0.0.0/8"), `"this network" (RFC 791)`},
	{netip.MustParsePrefix("0.0.0.0/32"), `"this host on this network" (RFC 1122)`},
	{netip.MustParsePrefix("10.0.0.0/8"), "private-use (RFC 1918)"},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared address space, carrier-grade NAT (RFC 6598)"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback (RFC 1122)"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local (RFC 3927)"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private-use (RFC 1918)"},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignments (RFC 6890)"},
	{netip.MustParsePrefix("192.0.0.0/29"), "IPv4 service continuity prefix (RFC 7335)"},
	{netip.MustParsePrefix("192.0.0.8/32"), "IPv4 dummy address (RFC 7600)"},
	{netip.MustParsePrefix("192.0.0.9/32"), "port control protocol anycast (RFC 7723)"},
	{netip.MustParsePrefix("192.0.0.10/32"), "TURN anycast (RFC 8155)"},
	{netip.MustParsePrefix("192.0.0.170/32"), "NAT64/DNS64 discovery (RFC 8880)"},
	{netip.MustParsePrefix("192.0.0.171/32"), "NAT64/DNS64 discovery (RFC 8880)"},
	{netip.MustParsePrefix("192.0.2.0/24"), "documentation, TEST-NET-1 (RFC 5737)"},
	{netip.MustParsePrefix("192.31.196.0/24"), "AS112-v4 (RFC 7535)"},
	{netip.MustParsePrefix("192.52.193.0/24"), "AMT (RFC 7450)"},
	{netip.MustParsePrefix("192.88.99.0/24"), "deprecated 6to4 relay anycast (RFC 7526)"},
	{netip.MustParsePrefix("192.88.99.2/32"), "6a44 relay anycast (RFC 6751)"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private-use (RFC 1918)"},
	{netip.MustParsePrefix("192.175.48.0/24"), "direct delegation AS112 service (RFC 7534)"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking (RFC 2544)"},
	{netip.MustParsePrefix("198.51.100.0/24"), "documentation, TEST-NET-2 (RFC 5737)"},
	{netip.MustParsePrefix("203.0.113.0/24"), "documentation, TEST-NET-3 (RFC 5737)"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved (RFC 1112)"},
	{netip.MustParsePrefix("255.255.255.255/32"), "limited broadcast (RFC 919)"},
	// IPv4 Multicast Address Space Registry.
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast (RFC 5771)"},

	// IPv6 Special-Purpose Address Registry.
	{netip.MustParsePrefix("::1/128"), "loopback (RFC 4291)"},
	{netip.MustParsePrefix("::/128"), "unspecified (RFC 4291)"},
	{netip.MustParsePrefix("::ffff:0:0/96"), "IPv4-mapped (RFC 4291); publicAddress judges the IPv4 address inside"},
	{netip.MustParsePrefix("64:ff9b::/96"), "IPv4-IPv6 translation, well-known (RFC 6052)"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "IPv4-IPv6 translation, local-use (RFC 8215)"},
	{netip.MustParsePrefix("100::/64"), "discard-only (RFC 6666)"},
	{netip.MustParsePrefix("100:0:0:1::/64"), "dummy IPv6 prefix (RFC 9780)"},
	{netip.MustParsePrefix("2001::/23"), "IETF protocol assignments (RFC 2928)"},
	{netip.MustParsePrefix("2001::/32"), "Teredo (RFC 4380)"},
	{netip.MustParsePrefix("2001:1::1/128"), "port control protocol anycast (RFC 7723)"},
	{netip.MustParsePrefix("2001:1::2/128"), "TURN anycast (RFC 8155)"},
	{netip.MustParsePrefix("2001:1::3/128"), "DNS-SD service registration protocol anycast (RFC 9665)"},
	{netip.MustParsePrefix("2001:2::/48"), "benchmarking (RFC 5180)"},
	{netip.MustParsePrefix("2001:3::/32"), "AMT (RFC 7450)"},
	{netip.MustParsePrefix("2001:4:112::/48"), "AS112-v6 (RFC 7535)"},
	{netip.MustParsePrefix("2001:10::/28"), "deprecated ORCHID (RFC 4843)"},
	{netip.MustParsePrefix("2001:20::/28"), "ORCHIDv2 (RFC 7343)"},
	{netip.MustParsePrefix("2001:30::/28"), "drone remote ID entity tags (RFC 9374)"},
	{netip.MustParsePrefix("2001:db8::/32"), "documentation (RFC 3849)"},
	{netip.MustParsePrefix("2002::/16"), "6to4 (RFC 3056)"},
	{netip.MustParsePrefix("2620:4f:8000::/48"), "direct delegation AS112 service (RFC 7534)"},
	{netip.MustParsePrefix("3fff::/20"), "documentation (RFC 9637)"},
	{netip.MustParsePrefix("5f00::/16"), "segment routing SIDs (RFC 9602)"},
	{netip.MustParsePrefix("fc00::/7"), "unique-local (RFC 4193)"},
	{netip.MustParsePrefix("fe80::/10"), "link-local unicast (RFC 4291)"},
	// IPv6 Address Space and Multicast registries.
	{netip.MustParsePrefix("fec0::/10"), "deprecated site-local (RFC 3879)"},
	{netip.MustParsePrefix("ff00::/8"), "multicast (RFC 4291)"},
}

// globalUnicast6 is the only IPv6 space IANA allocates for global unicast;
// the rest is reserved, so an address outside it is refused even if no
// registry names it yet.
var globalUnicast6 = netip.MustParsePrefix("2000::/3")

// publicAddress reports whether addr may be dialled with the guard on.
func publicAddress(addr netip.Addr) bool {
	// Unmap: a dial to ::ffff:10.0.0.1 reaches 10.0.0.1. WithZone: a
	// prefix never contains a zoned address, so fe80::1%eth0 would pass.
	addr = addr.Unmap().WithZone("")
	if !addr.IsValid() || (addr.Is6() && !globalUnicast6.Contains(addr)) {
		return false
	}
	for _, s := range specialPurpose {
		if s.prefix.Contains(addr) {
			return false
		}
	}
	return true
}

// guardControl is a net.Dialer.Control: it runs after name resolution, on the
// very address about to be connected, so DNS tricks (a public name resolving
// to 127.0.0.1, rebinding between check and use) cannot get past it.
func guardControl(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: unparseable address", ErrForbiddenAddress)
	}
	if !publicAddress(ap.Addr()) {
		return fmt.Errorf("%w: %s", ErrForbiddenAddress, ap.Addr())
	}
	return nil
}
