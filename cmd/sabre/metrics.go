package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sabre-ipsec/sabre/ike"
	"github.com/sabre-ipsec/sabre/ipsec"
	"github.com/sabre-ipsec/sabre/ports/tun"
	"github.com/sabre-ipsec/sabre/sad"
	"github.com/sabre-ipsec/sabre/xe"
)

// `sabre run -metrics ADDR` serves the daemon's counters in Prometheus's
// text exposition format at http://ADDR/metrics. The collector reads the
// counters the engine, the IKE daemon and the TUN device already keep, at
// scrape time: nothing is counted twice.

// metricsCollector is a prometheus.Collector over a running daemon.
type metricsCollector struct {
	engine  *ipsec.Engine
	ike     *ike.Daemon
	dev     func() *tun.Device // nil until the device is open
	forward *tun.Forwarding    // may be nil
}

// desc makes a metric's description; every name starts with sabre_.
func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("sabre_"+name, help, labels, nil)
}

var (
	mPackets     = desc("packets_total", "Packets secured (out) and opened and accepted (in) by the engine.", "direction")
	mBytes       = desc("bytes_total", "Bytes of the packets secured (out) and opened (in) by the engine.", "direction")
	mBypass      = desc("bypass_packets_total", "Packets that matched a BYPASS policy.", "direction")
	mDrops       = desc("drops_total", "Packets the engine dropped, by XE_* reason.", "reason")
	mAcquires    = desc("acquires_total", "ACQUIREs raised: packets of a SECURE policy without SAs.")
	mSAs         = desc("sas", "SAs in the SAD.")
	mSAPackets   = desc("sa_packets_total", "Packets through one SA.", "spi", "protocol", "direction", "policy")
	mSABytes     = desc("sa_bytes_total", "Bytes through one SA.", "spi", "protocol", "direction", "policy")
	mSAReplay    = desc("sa_replay_drops_total", "Inbound packets one SA's replay window dropped.", "spi", "protocol", "policy")
	mSAICV       = desc("sa_icv_failures_total", "Inbound packets whose ICV did not verify, per SA.", "spi", "protocol", "policy")
	mIKESAs      = desc("ike_sas", "IKE SAs, by state.", "state")
	mHandshakes  = desc("ike_handshakes_total", "IKE SA negotiations, by result (established, failed, auth_failed).", "result")
	mChildSAs    = desc("ike_child_sas_total", "Child SA negotiations, by result (established, failed).", "result")
	mRekeys      = desc("ike_child_rekeys_total", "Child SA rekeys started or accepted.")
	mDPD         = desc("ike_dpd_failures_total", "Liveness checks (dead peer detection) the peer never answered.")
	mIKEMessages = desc("ike_messages_total", "IKE messages, by what happened to them (received, sent, retransmitted, dropped).", "event")
	mDeletes     = desc("ike_deletes_total", "IKE and Child SA deletions.")
	mHalfOpen    = desc("ike_half_open", "IKE SAs that have not completed IKE_AUTH.")
	mCookieMode  = desc("ike_cookie_mode", "1 while new IKE_SA_INITs are answered with a COOKIE first (RFC 7296 §2.6).")
	mRefused     = desc("ike_half_open_refused_total", "IKE_SA_INITs refused at the half-open limit.")
	mCookies     = desc("ike_cookies_sent_total", "COOKIE notifications sent.")
	mEventDrops  = desc("event_drops_total", "Messaging events (ACQUIRE, SA_EXPIRED...) lost because a key manager's queue was full.")
	mTUN         = desc("tun_packets_total", "Packets read from (rx) and written to (tx) the TUN device.", "direction")
	mTUNBytes    = desc("tun_bytes_total", "Bytes read from (rx) and written to (tx) the TUN device.", "direction")
	mWire        = desc("wire_packets_total", "Protected packets sent (tx) and received (rx) on the raw and UDP sockets.", "direction")
	mWireBytes   = desc("wire_bytes_total", "Bytes of protected packets sent (tx) and received (rx).", "direction")
	mDevErrors   = desc("tun_errors_total", "Device errors, by kind.", "kind")
	mNotFwd      = desc("not_forwarded_total", "Packets opened for a host behind this gateway while IP forwarding was off (the kernel drops them).")
	mForwarding  = desc("ip_forwarding", "1 when the kernel forwards IP packets of the family.", "family")
	mBuild       = desc("build_info", "Always 1; the labels say which build runs.", "version", "revision", "goversion")
)

// Describe implements prometheus.Collector.
func (c *metricsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{mPackets, mBytes, mBypass, mDrops, mAcquires, mSAs, mSAPackets, mSABytes,
		mSAReplay, mSAICV, mIKESAs, mHandshakes, mChildSAs, mRekeys, mDPD, mIKEMessages, mDeletes, mHalfOpen,
		mCookieMode, mRefused, mCookies, mEventDrops, mTUN, mTUNBytes, mWire, mWireBytes, mDevErrors, mNotFwd,
		mForwarding, mBuild} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: it reads the counters now.
func (c *metricsCollector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	st := c.engine.Stats()
	counter(mPackets, st.OutPackets.Load(), "out")
	counter(mPackets, st.InPackets.Load(), "in")
	counter(mBytes, st.OutBytes.Load(), "out")
	counter(mBytes, st.InBytes.Load(), "in")
	counter(mBypass, st.OutBypass.Load(), "out")
	counter(mBypass, st.InBypass.Load(), "in")
	counter(mAcquires, st.AcquireRequested.Load())
	for code := xe.Code(1); code < xe.NumCodes; code++ {
		counter(mDrops, st.Dropped(code), code.Name())
	}
	sas := c.engine.SAD().All()
	gauge(mSAs, float64(len(sas)))
	for _, sa := range sas {
		spi, proto, pol := fmt.Sprintf("%08x", sa.SPI()), sa.Protocol().String(), strconv.FormatUint(uint64(sa.PolicyID()), 10)
		counter(mSAPackets, sa.Counters.Packets.Load(), spi, proto, sa.Direction().String(), pol)
		counter(mSABytes, sa.Counters.Bytes.Load(), spi, proto, sa.Direction().String(), pol)
		if sa.Direction() == sad.Inbound {
			counter(mSAReplay, sa.Counters.ReplayDrops.Load(), spi, proto, pol)
			counter(mSAICV, sa.Counters.ICVFailures.Load(), spi, proto, pol)
		}
	}
	counter(mEventDrops, st.EventsDropped.Load())
	if c.ike != nil {
		byState := map[string]int{}
		for _, s := range c.ike.Status() {
			byState[s.State]++
		}
		for state, n := range byState {
			gauge(mIKESAs, float64(n), state)
		}
		is := c.ike.Stats()
		counter(mHandshakes, is.Established.Load(), "established")
		counter(mHandshakes, is.Failed.Load(), "failed")
		counter(mHandshakes, is.AuthFailures.Load(), "auth_failed")
		counter(mChildSAs, is.ChildSAs.Load(), "established")
		counter(mChildSAs, is.ChildFailures.Load(), "failed")
		counter(mRekeys, is.ChildRekeys.Load())
		counter(mDPD, is.DPDFailures.Load())
		counter(mIKEMessages, is.Received.Load(), "received")
		counter(mIKEMessages, is.Sent.Load(), "sent")
		counter(mIKEMessages, is.Retransmits.Load(), "retransmitted")
		counter(mIKEMessages, is.Dropped.Load(), "dropped")
		counter(mDeletes, is.Deletes.Load())
		counter(mRefused, is.HalfOpenRefused.Load())
		counter(mCookies, is.CookiesSent.Load())
		n, cookies := c.ike.HalfOpen()
		gauge(mHalfOpen, float64(n))
		gauge(mCookieMode, boolGauge(cookies))
	}
	if c.dev != nil {
		if d := c.dev(); d != nil {
			s := d.Stats().Snapshot()
			counter(mTUN, s.TUNRxPackets, "rx")
			counter(mTUN, s.TUNTxPackets, "tx")
			counter(mTUNBytes, s.TUNRxBytes, "rx")
			counter(mTUNBytes, s.TUNTxBytes, "tx")
			counter(mWire, s.WireTxPackets, "tx")
			counter(mWire, s.WireRxPackets, "rx")
			counter(mWireBytes, s.WireTxBytes, "tx")
			counter(mWireBytes, s.WireRxBytes, "rx")
			for kind, v := range map[string]uint64{"bypass_dropped": s.BypassDropped, "unexpected": s.Unexpected,
				"read": s.ReadErrors, "send": s.SendErrors, "tun_write": s.TUNWriteErrors,
				"too_many_segments": s.TooManySegments, "too_big": s.TooBig} {
				counter(mDevErrors, v, kind)
			}
		}
	}
	if c.forward != nil {
		counter(mNotFwd, c.forward.NotForwarded.Load())
		v4, v6 := c.forward.State()
		gauge(mForwarding, boolGauge(v4), "ipv4")
		gauge(mForwarding, boolGauge(v6), "ipv6")
	}
	version, revision, goVersion := buildLabels()
	gauge(mBuild, 1, version, revision, goVersion)
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// buildLabels are sabre_build_info's labels.
func buildLabels() (version, revision, goVersion string) {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown", "", ""
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" {
			revision = s.Value
		}
	}
	return info.Main.Version, revision, info.GoVersion
}

// metricsServer serves /metrics.
type metricsServer struct {
	srv  *http.Server
	addr net.Addr
	done chan error
}

// serveMetrics listens on addr and serves the collector's metrics, with
// the Go runtime's and the process's, at /metrics.
func serveMetrics(addr string, c *metricsCollector, log *slog.Logger) (*metricsServer, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(c, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("-metrics %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slogPromLogger{log}}))
	m := &metricsServer{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, addr: ln.Addr(), done: make(chan error, 1)}
	go func() { m.done <- m.srv.Serve(ln) }()
	return m, nil
}

// Close stops the server.
func (m *metricsServer) Close() error {
	if m == nil {
		return nil
	}
	err := m.srv.Close()
	if serr := <-m.done; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

// slogPromLogger passes promhttp's errors to the daemon's log.
type slogPromLogger struct{ log *slog.Logger }

func (l slogPromLogger) Println(v ...any) { l.log.Error("metrics", "err", fmt.Sprint(v...)) }
