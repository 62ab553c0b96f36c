package main

import (
	"flag"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/sabre-ipsec/sabre/ports/tun"
	"github.com/sabre-ipsec/sabre/spd"
)

// The operator's side of `sabre run`: the device's addresses and routes
// (setup.go), the forwarding check, metrics (metrics.go), readiness
// (ready.go) and the log format (logging.go).

// operatorConfig is what the operator flags of `sabre run` say.
type operatorConfig struct {
	addrs     []netip.Prefix
	routes    bool
	metrics   string
	readyFile string
	logFormat string
	logLevel  string
}

// addressList is -address: prefixes, comma separated or the flag repeated.
type addressList struct{ p *[]netip.Prefix }

func (l addressList) String() string {
	if l.p == nil {
		return ""
	}
	var s []string
	for _, p := range *l.p {
		s = append(s, p.String())
	}
	return strings.Join(s, ",")
}

func (l addressList) Set(v string) error {
	for _, f := range strings.Split(v, ",") {
		p, err := netip.ParsePrefix(strings.TrimSpace(f))
		if err != nil {
			if a, aerr := netip.ParseAddr(strings.TrimSpace(f)); aerr == nil {
				p = netip.PrefixFrom(a, a.BitLen()) // a bare address is a host prefix
			} else {
				return fmt.Errorf("%q: want ADDRESS/PREFIX-LENGTH (10.201.1.1/32): %v", f, err)
			}
		}
		*l.p = append(*l.p, p)
	}
	return nil
}

// addOperatorFlags registers the operator flags on fs.
func addOperatorFlags(fs *flag.FlagSet, c *operatorConfig) {
	fs.Var(addressList{&c.addrs}, "address", "address(es) of the TUN device, ADDR/LEN, comma separated or repeated (wg-quick's Address=); a bare address is a /32 or /128. Removed with the device")
	fs.BoolVar(&c.routes, "routes", true, "route each tunnel policy's -d subnets into the TUN device (removed with it, updated on reload); -routes=false leaves routing to you")
	fs.StringVar(&c.metrics, "metrics", "", "serve Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9469)")
	fs.StringVar(&c.readyFile, "ready-file", "", "write the PID to this file once the daemon is ready (device up, addresses and routes set, socket listening); removed at stop. Under systemd Type=notify, READY=1 is sent to $NOTIFY_SOCKET as well")
	fs.StringVar(&c.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.logLevel, "log-level", "info", "log levels: a default and per subsystem (ike, tun), e.g. info,ike=debug; -v sets the default to debug")
}

// operatorState is what the operator features hold while the daemon runs.
type operatorState struct {
	fwd     tun.Forwarding
	setup   *tunSetup
	metrics *metricsServer
	done    chan struct{}
	wg      sync.WaitGroup
}

// startOperator sets up the device's addresses and routes, checks IP
// forwarding and serves metrics. It runs once the device is open and the
// control socket listens; on error the caller stops everything.
func (d *daemon) startOperator() error {
	op := &d.op
	op.done = make(chan struct{})
	setup, err := configureTUN(d.dev.Name(), d.cfg.op.addrs, d.log)
	if err != nil {
		return err
	}
	op.setup = setup
	if d.cfg.op.routes {
		setup.syncRoutes(d.engine.SPD().List())
	}
	if d.cfg.op.metrics != "" {
		c := &metricsCollector{engine: d.engine, ike: d.ike, forward: &op.fwd,
			dev: func() *tun.Device { return d.dev }}
		if op.metrics, err = serveMetrics(d.cfg.op.metrics, c, d.log); err != nil {
			return err
		}
		d.log.Info("serving metrics", "url", "http://"+op.metrics.addr.String()+"/metrics")
	}
	d.checkForwarding()
	op.wg.Add(1)
	go d.watchForwarding()
	return nil
}

// ready tells the supervisors the daemon is ready.
func (d *daemon) ready() error {
	addrs, routes := d.op.setup.summary()
	if _, err := sdNotify(fmt.Sprintf("READY=1\nSTATUS=tunnel device %s up, %d policies\nMAINPID=%d", d.dev.Name(), len(d.engine.SPD().List()), pid())); err != nil {
		d.log.Warn("could not tell systemd the daemon is ready", "err", err)
	}
	if d.cfg.op.readyFile != "" {
		if err := writeReadyFile(d.cfg.op.readyFile); err != nil {
			return err
		}
	}
	d.log.Info("ready", "tun", d.dev.Name(), "addresses", addrs, "routes", routes)
	return nil
}

// beforeReload and afterReload bracket a SIGHUP reload: systemd hears
// RELOADING=1 and READY=1, and the routes follow the new policies.
func (d *daemon) beforeReload() {
	sdNotify(fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%d", monotonicUsec()))
}

func (d *daemon) afterReload() {
	if d.cfg.op.routes && d.op.setup != nil {
		d.op.setup.syncRoutes(d.engine.SPD().List())
	}
	d.checkForwarding()
	sdNotify("READY=1")
}

// stopOperator is the first step of stopping: supervisors learn the
// daemon is going, and metrics stop. The device's addresses and routes
// go with the device.
func (d *daemon) stopOperator() {
	sdNotify("STOPPING=1")
	if d.cfg.op.readyFile != "" {
		if err := removeReadyFile(d.cfg.op.readyFile); err != nil {
			d.log.Warn("ready file not removed", "file", d.cfg.op.readyFile, "err", err)
		}
	}
	if d.op.done != nil {
		close(d.op.done)
		d.op.wg.Wait()
	}
	if err := d.op.metrics.Close(); err != nil {
		d.log.Warn("metrics server", "err", err)
	}
}

// checkForwarding rereads the forwarding switches and warns for each
// family that tunnel policies need forwarded while the kernel does not.
func (d *daemon) checkForwarding() {
	v4, v6, err := d.op.fwd.Refresh()
	if err != nil {
		d.log.Debug("reading this host's addresses", "err", err)
	}
	for _, fam := range []struct {
		on     bool
		is4    bool
		sysctl string
	}{{v4, true, "net.ipv4.ip_forward"}, {v6, false, "net.ipv6.conf.all.forwarding"}} {
		if fam.on {
			continue
		}
		if p := needsForwarding(d.engine.SPD().List(), fam.is4); p != nil {
			d.log.Warn("IP forwarding is off: hosts behind this gateway cannot use the tunnel, and the kernel drops the packets for them that come out of it (counted in sabre_not_forwarded_total); enable it with: sysctl -w "+fam.sysctl+"=1",
				"sysctl", fam.sysctl+"=0", "policy", p.Name, "local", p.Src.String(), "remote", p.Dst.String())
		}
	}
}

// needsForwarding returns a secure tunnel policy of the family whose
// local side is more than one address (hosts behind this gateway), or nil.
func needsForwarding(policies []*spd.Policy, is4 bool) *spd.Policy {
	for _, p := range policies {
		if p.Action != spd.Secure || p.Mode != spd.Tunnel || !p.Src.IsValid() || p.Src.Is4() != is4 {
			continue
		}
		if p.Src.From() != p.Src.To() {
			return p
		}
	}
	return nil
}

// forwardingInterval is how often the forwarding switches are reread.
const forwardingInterval = 2 * time.Second

// watchForwarding rereads the forwarding switches every
// forwardingInterval, logs when they change and when packets went
// unforwarded since the last look.
func (d *daemon) watchForwarding() {
	defer d.op.wg.Done()
	t := time.NewTicker(forwardingInterval)
	defer t.Stop()
	v4, v6 := d.op.fwd.State()
	lost := d.op.fwd.NotForwarded.Load()
	for {
		select {
		case <-d.op.done:
			return
		case <-t.C:
		}
		n4, n6, _ := d.op.fwd.Refresh()
		if n4 != v4 || n6 != v6 {
			d.log.Info("IP forwarding changed", "ipv4", onOffWord(n4), "ipv6", onOffWord(n6))
			v4, v6 = n4, n6
		}
		if n := d.op.fwd.NotForwarded.Load(); n != lost {
			d.log.Warn("packets from the tunnel for hosts behind this gateway were not forwarded: IP forwarding is off",
				"packets", n-lost, "ipv4", onOffWord(n4), "ipv6", onOffWord(n6))
			lost = n
		}
	}
}

func onOffWord(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
