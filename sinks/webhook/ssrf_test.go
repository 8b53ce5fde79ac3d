package webhook

import (
	"net/netip"
	"testing"
)

// TestSSRFGuardRegistries lists every block of the IANA IPv4 and IPv6
// Special-Purpose Address Registries, plus multicast and site-local, written
// out here from the registries rather than from specialPurpose: the guard
// must refuse the first and last address of each, and its table must hold
// exactly these blocks.
func TestSSRFGuardRegistries(t *testing.T) {
	t.Parallel()
	registry := []string{
		// IPv4 Special-Purpose Address Registry.
		"0.0.0.0/8", "0.0.0.0/32", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
		"172.16.0.0/12", "192.0.0.0/24", "192.0.0.0/29", "192.0.0.8/32", "192.0.0.9/32", "192.0.0.10/32",
		"192.0.0.170/32", "192.0.0.171/32", "192.0.2.0/24", "192.31.196.0/24", "192.52.193.0/24",
		"192.88.99.0/24", "192.88.99.2/32", "192.168.0.0/16", "192.175.48.0/24", "198.18.0.0/15",
		"198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4", "255.255.255.255/32",
		// IPv4 multicast.
		"224.0.0.0/4",
		// IPv6 Special-Purpose Address Registry.
		"::1/128", "::/128", "::ffff:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "100:0:0:1::/64",
		"2001::/23", "2001::/32", "2001:1::1/128", "2001:1::2/128", "2001:1::3/128", "2001:2::/48",
		"2001:3::/32", "2001:4:112::/48", "2001:10::/28", "2001:20::/28", "2001:30::/28", "2001:db8::/32",
		"2002::/16", "2620:4f:8000::/48", "3fff::/20", "5f00::/16", "fc00::/7", "fe80::/10",
		// IPv6 site-local (deprecated) and multicast.
		"fec0::/10", "ff00::/8",
	}
	inTable := map[netip.Prefix]bool{}
	for _, s := range specialPurpose {
		if inTable[s.prefix] {
			t.Errorf("specialPurpose lists %s twice", s.prefix)
		}
		inTable[s.prefix] = true
	}
	for _, r := range registry {
		p := netip.MustParsePrefix(r)
		if !inTable[p] {
			t.Errorf("specialPurpose lacks registry block %s", p)
		}
		delete(inTable, p)
		first, last := p.Addr(), lastAddr(p)
		// The IPv4-mapped block's addresses are judged by the IPv4 address
		// inside: its first and last are 0.0.0.0 and 255.255.255.255, both refused.
		for _, a := range []netip.Addr{first, last} {
			if publicAddress(a) {
				t.Errorf("%s (in %s) passes the guard", a, p)
			}
		}
	}
	for p := range inTable {
		t.Errorf("specialPurpose lists %s, which no registry block here matches", p)
	}
}

// TestSSRFGuardBoundaries: public addresses right beside special blocks,
// and special addresses in the forms a dialer may hand over.
func TestSSRFGuardBoundaries(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		addr   string
		public bool
	}{
		{"8.8.8.8", true},
		{"1.1.1.1", true},
		{"9.255.255.255", true},   // before 10/8
		{"11.0.0.0", true},        // after 10/8
		{"100.63.255.255", true},  // before 100.64/10
		{"100.128.0.0", true},     // after 100.64/10
		{"172.15.255.255", true},  // before 172.16/12
		{"172.32.0.0", true},      // after 172.16/12
		{"192.0.1.0", true},       // between 192.0.0/24 and TEST-NET-1
		{"192.0.3.0", true},       // after TEST-NET-1
		{"198.17.255.255", true},  // before benchmarking
		{"198.20.0.0", true},      // after benchmarking
		{"198.51.99.255", true},   // before TEST-NET-2
		{"203.0.112.255", true},   // before TEST-NET-3
		{"203.0.114.0", true},     // after TEST-NET-3
		{"223.255.255.255", true}, // before multicast
		{"2606:4700::1111", true}, // a public resolver
		{"2001:4860:4860::8888", true},
		{"2001:200::1", true},      // after 2001::/23
		{"2001:db9::1", true},      // after documentation
		{"2003::1", true},          // after 6to4
		{"2620:4f:8001::1", true},  // after AS112 delegation
		{"3fff:1000::1", true},     // after 3fff::/20
		{"::ffff:8.8.8.8", true},   // mapped public IPv4 is that IPv4
		{"::ffff:10.0.0.1", false}, // mapped private IPv4
		{"::ffff:127.0.0.1", false},
		{"::8.8.8.8", false},                            // deprecated IPv4-compatible: outside 2000::/3
		{"4000::1", false},                              // reserved by IETF: outside 2000::/3
		{"fe80::1%eth0", false},                         // zoned link-local
		{"2001:db8::1%1", false},                        // zoned documentation address
		{"64:ff9b::a00:1", false},                       // NAT64 of 10.0.0.1
		{"2002:a00:1::1", false},                        // 6to4 of 10.0.0.1
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", false}, // Teredo
	} {
		a := netip.MustParseAddr(tc.addr)
		if got := publicAddress(a); got != tc.public {
			t.Errorf("publicAddress(%s) = %v, want %v", tc.addr, got, tc.public)
		}
	}
	if publicAddress(netip.Addr{}) {
		t.Error("the zero Addr passes the guard")
	}
}

// lastAddr is the highest address in p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
