package cli

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/sabre-ipsec/sabre/sad"
	"github.com/sabre-ipsec/sabre/spd"
	"github.com/sabre-ipsec/sabre/xe"
)

// `ipsec netstat [-a] [-c] [-p] [-k] [-j|--json]`.

const netstatCmd = "ipsec netstat"

type netstatOp struct {
	sas, policies, all, keys, json bool
}

func parseNetstat(args []string) (op, error) {
	o, err := parseOpts(netstatCmd, args, "acpkj", map[string]byte{"json": 'j', "all": 'a', "keys": 'k'})
	if err != nil {
		return nil, err
	}
	n := netstatOp{all: o.has('a'), sas: o.has('c'), policies: o.has('p'), keys: o.has('k'), json: o.has('j')}
	if n.all || (!n.sas && !n.policies) {
		n.sas, n.policies = true, true
	}
	return n, nil
}

// The report, in the JSON shape `ipsec netstat -j` prints; the tables are
// rendered from it too. Field names are stable: scripts depend on them.

type netstatReport struct {
	Policies *[]policyInfo     `json:"policies,omitempty"`
	Sessions *[]sessionInfo    `json:"sessions,omitempty"`
	Engine   map[string]uint64 `json:"engine,omitempty"`
	Drops    map[string]uint64 `json:"drops,omitempty"`
}

type policyInfo struct {
	SPID            uint32   `json:"spid"`
	Name            string   `json:"name"`
	Priority        int      `json:"priority"`
	Proto           string   `json:"proto"`
	ProtoNumber     int      `json:"proto_number"`
	Action          string   `json:"action"`
	Src             string   `json:"src"`
	Dst             string   `json:"dst"`
	Mode            string   `json:"mode"`    // "" for bypass and drop
	Gateway         string   `json:"gateway"` // remote endpoint, "" if none
	Local           string   `json:"local"`   // local tunnel endpoint, "" if none
	IKERemote       string   `json:"ike_remote"`
	ESPAlgorithms   []string `json:"esp_algorithms"`
	AHAlgorithms    []string `json:"ah_algorithms"`
	LifetimeSeconds int64    `json:"lifetime_seconds"`
	// RekeySeconds is -K, 0 if not set; IKE rekeys at a random point
	// between RekeyFromSeconds and RekeyToSeconds (spd.Policy.RekeyWindow).
	RekeySeconds     int64    `json:"rekey_seconds"`
	RekeyFromSeconds float64  `json:"rekey_from_seconds"`
	RekeyToSeconds   float64  `json:"rekey_to_seconds"`
	ReplayWindow     int      `json:"replay_window"` // 0: no replay check
	Flags            []string `json:"flags"`
	SAs              int      `json:"sas"`
}

type sessionInfo struct {
	SPID uint32   `json:"spid"`
	Name string   `json:"name"` // the policy's; "" if it has none or is gone
	SAs  []saInfo `json:"sas"`
}

type saInfo struct {
	SPI           uint32       `json:"spi"`
	SPIHex        string       `json:"spi_hex"`
	Protocol      string       `json:"protocol"`  // ESP or AH
	Direction     string       `json:"direction"` // inbound or outbound
	Current       bool         `json:"current"`   // the outbound SA the engine sends on
	Mode          string       `json:"mode"`
	Local         string       `json:"local"`
	Remote        string       `json:"remote"`
	Algorithm     string       `json:"algorithm"`
	State         string       `json:"state"`
	ESN           bool         `json:"esn"`
	ReplayWindow  int          `json:"replay_window"`
	Sequence      uint64       `json:"sequence"`
	Packets       uint64       `json:"packets"`
	Bytes         uint64       `json:"bytes"`
	ReplayDrops   uint64       `json:"replay_drops"`
	ICVFailures   uint64       `json:"icv_failures"`
	DummyTx       uint64       `json:"dummy_tx"`
	DummyRx       uint64       `json:"dummy_rx"`
	TFCPadded     uint64       `json:"tfc_padded"`
	TFCBytes      uint64       `json:"tfc_bytes"`
	Encap         *encapInfo   `json:"encap"`
	SoftLifetime  lifetimeInfo `json:"soft_lifetime"`
	HardLifetime  lifetimeInfo `json:"hard_lifetime"`
	SoftExpiresIn *int64       `json:"soft_expires_in_seconds"` // null: no time lifetime
	HardExpiresIn *int64       `json:"hard_expires_in_seconds"`
	AgeSeconds    int64        `json:"age_seconds"`
	IdleSeconds   *int64       `json:"idle_seconds"` // null: never used
	Keys          *keysInfo    `json:"keys,omitempty"`
}

type encapInfo struct {
	SrcPort uint16 `json:"src_port"`
	DstPort uint16 `json:"dst_port"`
}

// lifetimeInfo is a lifetime; 0 fields are unlimited.
type lifetimeInfo struct {
	Seconds int64  `json:"seconds"`
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
}

type keysInfo struct {
	Encryption    string `json:"encryption,omitempty"`
	EncryptionKey string `json:"encryption_key,omitempty"`
	Integrity     string `json:"integrity,omitempty"`
	IntegrityKey  string `json:"integrity_key,omitempty"`
}

func (n netstatOp) run(env *Env, out io.Writer, _ *record) error {
	if n.keys && !env.ShowKeys {
		return errorf(xe.BadParam, "%s: -k: key display is off (the daemon must be started with key display enabled)", netstatCmd)
	}
	r := n.report(env)
	if n.json {
		b, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			return err
		}
		_, err = out.Write(append(b, '\n'))
		return err
	}
	return n.writeText(out, r)
}

func (n netstatOp) report(env *Env) *netstatReport {
	r := &netstatReport{}
	policies := env.Engine.SPD().List()
	if n.policies {
		list := make([]policyInfo, 0, len(policies))
		for _, p := range policies {
			list = append(list, policyInfoOf(env, p))
		}
		r.Policies = &list
	}
	if n.sas {
		list := n.sessions(env, policies)
		r.Sessions = &list
	}
	if n.all {
		r.Engine = engineCounters(env)
		r.Drops = map[string]uint64{}
		st := env.Engine.Stats()
		for c := xe.Code(1); c < xe.NumCodes; c++ {
			r.Drops[c.Name()] = st.Dropped(c)
		}
	}
	return r
}

func policyInfoOf(env *Env, p *spd.Policy) policyInfo {
	pi := policyInfo{
		SPID: p.ID, Name: p.Name, Priority: int(p.Priority), Proto: protoName(p.Proto),
		ProtoNumber: int(p.Proto), Action: p.Action.String(), Src: p.Src.String(), Dst: p.Dst.String(),
		IKERemote: p.RemoteName, ESPAlgorithms: nonNil(p.ESPAlgorithms), AHAlgorithms: nonNil(p.AHAlgorithms),
		Flags: flagNames(p.Flags), SAs: len(env.Engine.SAD().Session(p.ID).SAs()),
	}
	if p.Action == spd.Secure {
		pi.Mode = p.Mode.String()
		pi.LifetimeSeconds = int64(p.Lifetime / time.Second)
		pi.RekeySeconds = int64(p.RekeyTime / time.Second)
		lo, hi := p.RekeyWindow()
		pi.RekeyFromSeconds, pi.RekeyToSeconds = lo.Seconds(), hi.Seconds()
		if p.Flags&spd.FlagCheckReplay != 0 {
			pi.ReplayWindow = p.ReplayWindow
		}
	}
	if p.TunnelRemote.IsValid() {
		pi.Gateway = p.TunnelRemote.String()
	}
	if p.TunnelLocal.IsValid() {
		pi.Local = p.TunnelLocal.String()
	}
	return pi
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// flagNames lists the SP_* names of f.
func flagNames(f spd.Flags) []string {
	if f == 0 {
		return []string{}
	}
	return strings.Split(f.String(), "|")
}

// sessions lists the SAs by policy, in the policies' order; SAs whose
// policy is gone come last.
func (n netstatOp) sessions(env *Env, policies []*spd.Policy) []sessionInfo {
	byPolicy := map[uint32][]*sad.SA{}
	var ids []uint32
	for _, sa := range env.Engine.SAD().All() {
		id := sa.PolicyID()
		if byPolicy[id] == nil {
			ids = append(ids, id)
		}
		byPolicy[id] = append(byPolicy[id], sa)
	}
	order := make([]uint32, 0, len(ids))
	names := map[uint32]string{}
	for _, p := range policies {
		if byPolicy[p.ID] != nil {
			order = append(order, p.ID)
			names[p.ID] = p.Name
		}
	}
	for _, id := range ids {
		if !slices.Contains(order, id) {
			order = append(order, id)
		}
	}
	now := env.clock()
	list := make([]sessionInfo, 0, len(order))
	for _, id := range order {
		sas := byPolicy[id]
		// Outbound first, as the reference prints them; add order within.
		slices.SortStableFunc(sas, func(a, b *sad.SA) int { return int(b.Direction()) - int(a.Direction()) })
		s := sessionInfo{SPID: id, Name: names[id], SAs: make([]saInfo, 0, len(sas))}
		sess := env.Engine.SAD().Session(id)
		for _, sa := range sas {
			si := saInfoOf(sa, now)
			si.Current = sa == sess.OutboundESP() || sa == sess.OutboundAH()
			if n.keys && env.ShowKeys {
				si.Keys = keysInfoOf(env.state().keys[sa])
			}
			s.SAs = append(s.SAs, si)
		}
		list = append(list, s)
	}
	return list
}

func saInfoOf(sa *sad.SA, now time.Time) saInfo {
	st := sa.Stats()
	si := saInfo{
		SPI: sa.SPI(), SPIHex: fmt.Sprintf("%08x", sa.SPI()), Protocol: sa.Protocol().String(),
		Direction: sa.Direction().String(), Mode: sa.Mode().String(),
		Local: sa.Local().String(), Remote: sa.Remote().String(), Algorithm: sa.Algorithm(),
		State: st.State.String(), ESN: sa.ESN(), Sequence: st.Sequence,
		Packets: st.Packets, Bytes: st.Bytes, ReplayDrops: st.ReplayDrops, ICVFailures: st.ICVFailures,
		DummyTx: st.DummyTx, DummyRx: st.DummyRx, TFCPadded: st.TFCPadded, TFCBytes: st.TFCBytes,
		SoftLifetime: lifetimeInfoOf(sa.SoftLifetime()), HardLifetime: lifetimeInfoOf(sa.HardLifetime()),
	}
	if w := sa.Replay(); w != nil {
		si.ReplayWindow = w.Size()
	}
	if e, ok := sa.Encap(); ok {
		si.Encap = &encapInfo{SrcPort: e.SrcPort, DstPort: e.DstPort}
	}
	if !st.AddedAt.IsZero() {
		si.AgeSeconds = max(0, int64(now.Sub(st.AddedAt)/time.Second))
		left := func(d time.Duration) *int64 {
			if d == 0 {
				return nil
			}
			s := max(0, int64(st.AddedAt.Add(d).Sub(now)/time.Second))
			return &s
		}
		si.SoftExpiresIn = left(sa.SoftLifetime().Time)
		si.HardExpiresIn = left(sa.HardLifetime().Time)
	}
	if !st.LastUsed.IsZero() {
		s := max(0, int64(now.Sub(st.LastUsed)/time.Second))
		si.IdleSeconds = &s
	}
	return si
}

func lifetimeInfoOf(l sad.Lifetime) lifetimeInfo {
	return lifetimeInfo{Seconds: int64(l.Time / time.Second), Packets: l.Packets, Bytes: l.Bytes}
}

func keysInfoOf(k *saKeys) *keysInfo {
	if k == nil {
		return &keysInfo{} // not known: an IKE SA, or added while key display was off
	}
	ki := &keysInfo{Encryption: k.encrName, Integrity: k.integName}
	if k.encr != nil {
		ki.EncryptionKey = hex.EncodeToString(k.encr)
	}
	if k.integ != nil {
		ki.IntegrityKey = hex.EncodeToString(k.integ)
	}
	return ki
}

// engineCounters returns every counter of the engine's StatsSnapshot by
// its snake_case name, so that counters the engine adds show up here.
func engineCounters(env *Env) map[string]uint64 {
	snap := env.Engine.Stats().Snapshot()
	v := reflect.ValueOf(snap)
	m := map[string]uint64{}
	for i := 0; i < v.NumField(); i++ {
		if f := v.Field(i); f.Kind() == reflect.Uint64 {
			m[snakeCase(v.Type().Field(i).Name)] = f.Uint()
		}
	}
	return m
}

// snakeCase turns a Go field name into a JSON one: "NATKeepalives" ->
// "nat_keepalives", "DummyTx" -> "dummy_tx".
func snakeCase(s string) string {
	r := []rune(s)
	var b strings.Builder
	for i, c := range r {
		if unicode.IsUpper(c) && i > 0 &&
			(unicode.IsLower(r[i-1]) || (i+1 < len(r) && unicode.IsLower(r[i+1]))) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToLower(c))
	}
	return b.String()
}

// Text output.

func (n netstatOp) writeText(out io.Writer, r *netstatReport) error {
	var b strings.Builder
	if r.Sessions != nil {
		writeSessions(&b, *r.Sessions, n.keys)
	}
	if r.Policies != nil {
		if r.Sessions != nil {
			b.WriteByte('\n')
		}
		writePolicies(&b, *r.Policies, n.all)
	}
	if n.all {
		writeCounters(&b, r)
	}
	_, err := io.WriteString(out, b.String())
	return err
}

func writeSessions(b *strings.Builder, sessions []sessionInfo, keys bool) {
	if len(sessions) == 0 {
		b.WriteString("no IPsec sessions\n")
		return
	}
	for _, s := range sessions {
		fmt.Fprintf(b, "IPSecSession SPID=%d", s.SPID)
		if s.Name != "" {
			fmt.Fprintf(b, " policy=%s", quoteWord(s.Name))
		}
		fmt.Fprintf(b, " SAs=%d\n", len(s.SAs))
		t := newTable("dir", "proto", "spi", "algorithm", "state", "esn", "local", "remote", "encap",
			"packets", "bytes", "replay-drops", "icv-failures", "dummy", "tfc-pkts", "tfc-bytes",
			"soft", "hard", "soft-in", "hard-in")
		for _, sa := range s.SAs {
			in := sa.Direction == "inbound"
			dir, dummy := "out", sa.DummyTx
			if in {
				dir, dummy = "in", sa.DummyRx
			}
			inOnly := func(v uint64) string {
				if !in {
					return ""
				}
				return strconv.FormatUint(v, 10)
			}
			outOnly := func(v uint64) string {
				if in {
					return ""
				}
				return strconv.FormatUint(v, 10)
			}
			encap := ""
			if sa.Encap != nil {
				encap = fmt.Sprintf("udp:%d:%d", sa.Encap.SrcPort, sa.Encap.DstPort)
			}
			t.add(dir, sa.Protocol, sa.SPIHex, sa.Algorithm, sa.State, yesNo(sa.ESN), sa.Local, sa.Remote, encap,
				strconv.FormatUint(sa.Packets, 10), strconv.FormatUint(sa.Bytes, 10),
				inOnly(sa.ReplayDrops), inOnly(sa.ICVFailures), strconv.FormatUint(dummy, 10),
				outOnly(sa.TFCPadded), outOnly(sa.TFCBytes),
				lifetimeText(sa.SoftLifetime), lifetimeText(sa.HardLifetime),
				secondsText(sa.SoftExpiresIn), secondsText(sa.HardExpiresIn))
		}
		t.write(b, "  ")
		if !keys {
			continue
		}
		for _, sa := range s.SAs {
			dir := "out"
			if sa.Direction == "inbound" {
				dir = "in"
			}
			fmt.Fprintf(b, "  keys %s %s %s:", dir, sa.Protocol, sa.SPIHex)
			k := sa.Keys
			if k == nil || (k.Encryption == "" && k.Integrity == "") {
				b.WriteString(" not known (only ipsec addsa keys are kept, while key display is on)\n")
				continue
			}
			if k.Encryption != "" {
				fmt.Fprintf(b, " %s [len=%d] %s", k.Encryption, len(k.EncryptionKey)/2, k.EncryptionKey)
			}
			if k.Integrity != "" {
				fmt.Fprintf(b, " %s [len=%d] %s", k.Integrity, len(k.IntegrityKey)/2, k.IntegrityKey)
			}
			b.WriteByte('\n')
		}
	}
}

func writePolicies(b *strings.Builder, policies []policyInfo, all bool) {
	if len(policies) == 0 {
		b.WriteString("no policies\n")
		return
	}
	header := []string{"spid", "pri", "proto", "policy", "src-id", "dst-id", "mode", "gateway", "name"}
	if all {
		header = append(header, "ike-remote", "sas", "flags")
	}
	t := newTable(header...)
	for _, p := range policies {
		row := []string{strconv.FormatUint(uint64(p.SPID), 10), strconv.Itoa(p.Priority), p.Proto,
			p.Action, p.Src, p.Dst, p.Mode, p.Gateway, tableWord(p.Name)}
		if all {
			row = append(row, tableWord(p.IKERemote), strconv.Itoa(p.SAs), strings.Join(p.Flags, "|"))
		}
		t.add(row...)
	}
	t.write(b, "")
}

func writeCounters(b *strings.Builder, r *netstatReport) {
	b.WriteString("\nengine counters\n")
	names := make([]string, 0, len(r.Engine))
	for k := range r.Engine {
		names = append(names, k)
	}
	slices.Sort(names)
	t := newTable("counter", "value")
	for _, k := range names {
		t.add(k, strconv.FormatUint(r.Engine[k], 10))
	}
	t.write(b, "  ")

	b.WriteString("\ndrops by reason\n")
	t = newTable("reason", "count", "description")
	for c := xe.Code(1); c < xe.NumCodes; c++ {
		if n := r.Drops[c.Name()]; n != 0 {
			desc, _ := strings.CutPrefix(c.Error(), c.Name()+": ")
			t.add(c.Name(), strconv.FormatUint(n, 10), desc)
		}
	}
	if len(t.rows) == 0 {
		b.WriteString("  none\n")
		return
	}
	t.write(b, "  ")
}

// tableWord quotes a name with blanks so that a table row stays one word
// per column; "" stays empty (shown as "-").
func tableWord(s string) string {
	if s == "" {
		return ""
	}
	return quoteWord(s)
}

func yesNo(v bool) string {
	if v {
		return "yes"
	}
	return "no"
}

// lifetimeText writes a lifetime compactly: "3600s", "1000pkt/5000000B".
func lifetimeText(l lifetimeInfo) string {
	var parts []string
	if l.Seconds != 0 {
		parts = append(parts, fmt.Sprintf("%ds", l.Seconds))
	}
	if l.Packets != 0 {
		parts = append(parts, fmt.Sprintf("%dpkt", l.Packets))
	}
	if l.Bytes != 0 {
		parts = append(parts, fmt.Sprintf("%dB", l.Bytes))
	}
	return strings.Join(parts, "/")
}

func secondsText(s *int64) string {
	if s == nil {
		return ""
	}
	return fmt.Sprintf("%ds", *s)
}
