package loadgen

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
)

// checkTargets parses the targets and, unless remote ones are allowed,
// refuses any that is not this machine: a load test against someone
// else's server by a typo is an attack.
func checkTargets(ctx context.Context, targets []string, allowRemote bool) ([]*url.URL, error) {
	var out []*url.URL
	for _, t := range targets {
		u, err := url.Parse(strings.TrimRight(strings.TrimSpace(t), "/"))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("target %q: want a URL such as http://127.0.0.1:8080", t)
		}
		if !allowRemote {
			if err := loopback(ctx, u.Hostname()); err != nil {
				return nil, fmt.Errorf("target %q: %w; pass --allow-remote to load a remote system", t, err)
			}
		}
		out = append(out, u)
	}
	return out, nil
}

// loopback tells whether host is, and only resolves to, a loopback address.
func loopback(ctx context.Context, host string) error {
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		addrs, err = net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return fmt.Errorf("cannot resolve %s: %w", host, err)
		}
	}
	for _, a := range addrs {
		if !a.Unmap().IsLoopback() {
			return fmt.Errorf("%s is not a loopback address", a)
		}
	}
	return nil
}
