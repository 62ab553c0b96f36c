// Package cli is Sabre's command language: the reference design's `ipsec`
// commands (policy, addsa, delsa, flush, netstat; §3.13 and the `ipsec
// policy` page), the `ike` commands (not available until IKE arrives) and
// the ike_rc startup file (§4.4) that holds them.
//
// The daemon builds an Env over its engine and hands it command lines
// (SplitLine, then Exec) and the ike_rc file (RunRC at start, ReloadRC on
// SIGHUP). The text below, which `ipsec help` prints, is the manual; it
// documents every choice made where the reference is silent.
package cli

// The manual, one page per command. `ipsec help` prints them all, `ipsec
// help <command>` and `<command> --help` one.

const manIntro = `SABRE IPSEC COMMANDS

  ipsec policy   add, view and delete security policies (the SPD)
  ipsec addsa    add a manually keyed SA pair
  ipsec delsa    delete the SAs of a policy
  ipsec flush    flush the SAD and/or the SPD
  ipsec netstat  show policies, SAs and counters
  ipsec help     this text; "ipsec help <command>" for one command
  ike ...        IKEv2 peers and SAs: remote, netstat, flush, debug, commands

Syntax. Words are separated by blanks; double quotes group ("a b" is one
word; there are no escapes); # starts a comment outside quotes. Every option
is its own word followed by its value, as in the reference: "-a HMAC-SHA-1",
never "-aHMAC-SHA-1". An option may be given once. "--help" shows a
command's page, as does "-h" where -h is not an option of the command.
"policy ..." (the reference's spelling in ike_rc files and its examples)
means "ipsec policy ...", and "remote ..." means "ike remote ...".

Errors name the offending word: ipsec policy: -e "3DES-CBX": unknown
encryption algorithm. Keys are never echoed in errors or output, except by
"ipsec netstat -k" when the daemon was started with key display enabled.
`

const manPolicy = `ipsec policy - add, view and delete security policies

  ipsec policy -n name [-b secure] -m transport|tunnel -s src -d dst
               [-p proto] [-t ESP|AH|AHESP] -e encr,... -a auth,...
               [-r remote] [-g ike-remote] [-k seconds] [-l priority]
               [-c] [-h] [-y] [-o] [-R window] [-P] [-E] [-F copy|set|clear]
               [-L local] [-K seconds]
  ipsec policy -n name -b bypass|drop -s src -d dst [-p proto] [-l priority]
  ipsec policy -v [-n name]
  ipsec policy -x name|ALLPOLICIES

Options of the reference:
  -n name      policy name, required, unique; ALLPOLICIES is reserved.
  -a list      authentication (integrity) algorithms, comma separated, in
               order of preference: HMAC-MD5, HMAC-SHA-1, HMAC-SHA-2-256,
               HMAC-SHA-2-384, HMAC-SHA-2-512, AES-XCBC, AES-CMAC,
               AES128-GMAC... (any name package suite knows; case, '-' and
               '_' do not matter). Required for AH and AHESP, and for ESP
               unless every -e algorithm is combined-mode (AES-GCM,
               ChaCha20-Poly1305, AES-GMAC), which take none. An AH
               policy lists its PFS groups here (see -e).
  -c           TFC padding on outgoing packets (SP_TX_TFC_PADDING); ESP in
               tunnel mode only, as the engine supports it. The reference's
               examples with -c in transport mode are refused (RFC 4303
               §2.7: there the receiver must find the payload's end from
               the upper-layer protocol).
  -d dst       destination selector (any, any6, a.b.c.d, a.b.c.d/n,
               a.b.c.d/mask, a-b ranges, ",port" or ",lo-hi" suffix).
  -e list      encryption algorithms, comma separated: 3DES-CBC,
               AES128-CBC, AES192-CBC, AES256-CBC, NULL_ENC, AES128-CTR,
               AES256-GCM16, CHACHA20-POLY1305... AES names must give the
               key size. Required for ESP and AHESP, refused for AH.
               Sabre: key exchange groups in the list (CURVE25519,
               ECP256, ECP384, ECP521, MODP2048, MODP3072, MODP4096) select
               PFS, as strongSwan's esp_proposals = aes128gcm16-x25519:
               IKE offers them, in order, in CREATE_CHILD_SA (new Child
               SAs and rekeys) with a KE payload of the first, and follows
               a peer's INVALID_KE_PAYLOAD to another of them once. The
               first Child SA, made in IKE_AUTH, has no KE (RFC 7296
               §1.2). A peer offering no group is then refused, as is one
               offering groups to a policy without.
  -g name      the "ike remote" that negotiates this policy's SAs (not
               with -o).
  -h           96-bit HMAC-SHA-2 ICVs (SP_AUTH_SHA2_ICV_SHORT).
  -k seconds   lifetime of negotiated SAs; default 3600. It is their hard
               lifetime (strongSwan's life_time): at it an SA is deleted.
               IKE rekeys each Child SA before that, at a random point
               between 80% and 90% of -k (2880 to 3240 s by default), so
               that the two ends rarely start the same rekey at once; -K
               sets that point instead.
  -l 1..7      priority, 1 highest; default 4. Equal selectors need
               different priorities.
  -m mode      transport or tunnel; required for secure policies.
  -p proto     udp, tcp, icmp, icmp6 (or icmpv6), any, or a number 0..255;
               default any. icmp needs IPv4 selectors, icmp6 IPv6 ones.
  -r addr      remote IPsec endpoint: required in tunnel mode (the
               gateway); in transport mode the peer, same family as the
               selectors. No zones ("%eth0").
  -s src       source (this host's side) selector.
  -t type      ESP, AH or AHESP; default ESP.
  -y           send dummy packets (SP_TX_DUMMY_PKT); ESP in tunnel mode.

Sabre's options (the reference has none for these):
  -b action    secure (default), bypass or drop. Bypass and drop policies
               take only -n -s -d -p -l.
  -o           manual keying only (SP_KEYNEG_MANUAL): IKE never negotiates
               for this policy; SAs come from "ipsec addsa".
  -R window    anti-replay window in packets, 0..65536, default 64. Replay
               checking (SP_CHECK_REPLAY) is ON by default; -R 0 turns it
               off.
  -P           check ESP padding bytes are 1, 2, 3... (SP_CHECK_ESP_PAD);
               off by default, as in the reference. Needs ESP.
  -E           full ECN tunnelling, RFC 6040 (SP_FULL_ECN); default is
               RFC 4301's limited mode. Tunnel mode only.
  -F df        outer DF bit in tunnel mode: copy from the inner header
               (SP_DF_COPY, the default), set (SP_DF_SET) or clear.
  -K seconds   rekey time (soft lifetime) of negotiated SAs, strongSwan's
               rekey_time: IKE rekeys each Child SA at a random point in
               its last tenth (between 90% and 100% of -K). Must be below
               -k, which stays the hard lifetime; leave room between them
               for the rekey and the Delete after it (strongSwan's default
               life_time is 110% of rekey_time). During a rekey the old
               inbound SA takes packets until the Delete for it is
               answered, and for 5 s after.
  -L addr      this host's tunnel endpoint. By default the daemon's address
               toward -r; where it cannot tell, -L is required.

  -v [-n name] shows the policies (or one) as the command lines that would
               re-create them, with their spid and flags.
  -x name      deletes the policy and its SAs; -x ALLPOLICIES deletes every
               policy (including the daemon's IKE bypass policies) and
               their SAs.

Example (the reference's, §5.1):
  ipsec policy -n policy1 -g remoteINFO -t ESP -e 3DES-CBC -a HMAC-SHA-2-384
               -m transport -p tcp -r 10.0.0.78 -s 10.0.0.77 -d 10.0.0.78
`

const manAddSA = `ipsec addsa - add a manually keyed SA pair

  ipsec addsa {-a auth -b in-key -c out-key} {-e encr -f in-key -g out-key}
              {-m mode -p proto -r remote -s src -d dst}
              {-w esp-in-spi -x esp-out-spi -y ah-in-spi -z ah-out-spi}
              [-n name] [-l priority] [-L local] [-N] [-u port[:port]]
              [-k seconds] [-R window]

Adds an inbound and an outbound SA for each protocol whose SPIs are given
(-w and -x: ESP; -y and -z: AH; both pairs: AH+ESP).

The policy. With -n, the secure policy of that name; otherwise the secure
policy whose selectors are exactly -s and -d and whose protocol is -p
(default any), at priority -l if given. More than one is an error (give -n
or -l). If none exists, addsa creates one: secure, mode -m, remote -r,
priority -l (default 4), named -n if given, with SP_KEYNEG_MANUAL and
replay checking (window -R, default 64; -R 0: off), protocols from the SPIs
given. A policy addsa created is deleted again by the delsa that deletes its
SAs, and by addsa itself if adding the SAs fails. For an existing policy,
-m, -r and the SPIs given must agree with it.

  -a alg       integrity algorithm (ESP's, or AH's), e.g. HMAC-SHA-1.
               Refused with a combined-mode -e unless AH is used too (then
               it is AH's).
  -b, -c key   inbound, outbound integrity key.
  -e alg       ESP encryption algorithm, e.g. AES128-CBC, AES256-GCM16.
  -f, -g key   inbound, outbound encryption key. For AES-GCM, AES-GMAC,
               AES-CTR and ChaCha20-Poly1305 the 4-octet salt follows the
               key (RFC 4106 §8.1), as in IKEv2 KEYMAT.
  -w, -x spi   ESP inbound, outbound SPI; -y, -z: AH. Decimal, or hex with
               0x (0xd17c6fc7). 0..255 are reserved (RFC 4303 §2.1).
  -m, -p, -r, -s, -d   as for ipsec policy.
  -n name      the policy to use (or to create).
  -l 1..7      priority of the policy to use (or to create).
  -L addr      this host's outer address. Default: the policy's tunnel
               endpoint, or in transport mode the source selector if it is
               one address, else the daemon's address toward the remote.
  -N           64-bit extended sequence numbers (RFC 4303 §2.2.1).
  -u p[:q]     UDP-encapsulate ESP (RFC 3948, NAT traversal): local port p,
               remote port q (default p); usually -u 4500.
  -k seconds   hard lifetime of the SAs; default none (manual SAs cannot be
               rekeyed, so they live until deleted).
  -R window    replay window of the inbound SAs, overriding the policy's.

Keys are hex, with an optional 0x and optional ':' separators
(0x0123..., 01:23:...), of exactly the algorithm's length.
`

const manDelSA = `ipsec delsa - delete the SAs of a policy

  ipsec delsa -s src -d dst [-p proto] [-l priority]
  ipsec delsa -n name

Deletes every SA of the secure policies whose selectors are exactly -s and
-d and whose protocol is -p (default any), at priority -l if given; or of
the policy named -n. A policy that "ipsec addsa" created is deleted with
its SAs. It is an error if no policy matches or the policies have no SA.
`

const manFlush = `ipsec flush - flush the SAD and/or the SPD

  ipsec flush -a|-c|-p

  -a  every SA and every policy.
  -c  every SA.
  -p  every policy, with its SAs (an SA lives in its policy's session).
      This includes the daemon's IKE bypass policies.

One option is required: a bare "ipsec flush" is refused.
`

const manNetstat = `ipsec netstat - show policies, SAs and counters

  ipsec netstat [-a] [-c] [-p] [-k] [-j|--json] [-w]

  -c  SAs: an IPSecSession line per policy with SAs, then a table of its
      SAs, outbound first: direction, protocol, SPI (hex), algorithm,
      state, ESN, local and remote outer address, UDP encapsulation
      (udp:local-port:remote-port), packets, bytes, replay drops and ICV
      failures (inbound), dummy packets (sent on outbound, received on
      inbound SAs), TFC-padded packets and bytes (outbound), soft and hard
      lifetimes (s: seconds, pkt: packets, B: bytes) and the seconds left
      until each time lifetime expires. "-": none, or not applicable.
  -p  policies: spid pri proto policy src-id dst-id mode gateway name,
      by priority. A name with blanks is quoted.
  -a  everything: SAs, policies (with their IKE remote and SP_* flags),
      the engine's counters and its drops by XE_* reason (non-zero ones).
  -k  also show key material, if the daemon allows it (it is off by
      default). Only keys of SAs added by ipsec addsa while key display was
      enabled are known; IKE SAs' keys are not kept for display.
  -j  JSON for scripts instead of tables: an object with "policies",
      "sessions", "engine" (counter -> value) and "drops" (every XE_* name
      -> count) for the parts asked for.
  -w  watch: "sabre ipsec netstat -w" redraws it every second until
      Ctrl-C (the client asks the daemon again each time).

No option: -c and -p, as in the reference.
`

const manRC = `ike_rc - the startup command file

One command per line: "ipsec ...", "policy ..." (= "ipsec policy ...") or
"ike ...". Blank lines and # comments are ignored. A line ending in \
continues on the next line, and so does a line whose first word is an
option ("-p tcp ..."), as the reference's examples wrap long commands.

"ike remote" (or "remote") lines add IKE peers (rolled back with the rest
on error; where no IKE daemon runs they are reported as not applied), and
"ike debug" may appear; other ike commands are for the console. Commands that
delete (ipsec delsa, ipsec flush, ipsec policy -x) are refused in an ike_rc:
they could not be rolled back, and a reload replaces what the file installed
anyway.

All or nothing. The whole file is parsed and checked first; every error is
reported as file:line: followed by the offending word, and the rest of the
file is still checked. If there is any error nothing is applied. Otherwise
the commands are applied in order; if one fails (a name already in use, no
local address...), everything this file added (policies and SAs) is removed
again, so a bad file never leaves a half-applied SPD.

Reload (SIGHUP). The new file is checked first, including what the IKE
daemon would refuse (remotes without a usable proposal, unusable PSK
files); if it has errors nothing changes. Otherwise the reload is a diff
against what the previous ike_rc runs installed, part by part: an "ike
remote" line, a policy with the "ipsec addsa -n <its name>" lines, and each
other command. An unchanged part is not touched: its policies keep their
IDs and SAs, and IKE SAs and their Child SAs keep running (a remote whose
PSK file now holds another key is changed). A changed part is replaced (the
IKE SAs negotiated with a changed or removed remote are deleted, telling
the peer), a removed one deleted, a new one added. Policies and remotes
added at the console, and the daemon's bypass policies, stay. The changes
are tried first on a copy of the SPD, and the SAs they add are checked
against the SAD: what either would refuse (a name or the traffic of a
console policy, an SPI in use) changes nothing. If applying still fails (a
local address no longer found), what was added is removed and the changed
or removed parts are applied again from the previous file (their manual SAs
restart with fresh counters, and IKE negotiates their Child SAs again); the
message says exactly what is in place.

Limits: a line of at most 64 KiB, a command (continuations joined) of at
most 1 MiB, a file of at most 64 MiB; the first 100 errors are listed.
"sabre run -check -rc FILE" checks a file this way without a daemon.
`

const manIKE = `ike - IKEv2 commands (the reference's §4.8)

ike remote -n name -z 2 [-w] [-u] -e encr,... [-a integ,...] -p prf,...
           -d group,... -m PresharedKey -h pskfile [-f id] [-g id]
           [-r address[,port]] [-i retransmit] [-l lifetime]
           [-t retransmissions] [-I max-retransmit] [-U] [-D dpd-delay|off]
           [-T dpd-timeout] [-A clear|restart|trap] [-S start|trap|none]
    add an IKE peer. -w initiates, -u accepts; -e/-a/-p/-d are lists in
    order of preference; modern names work besides the reference's
    (AES128-GCM16, AES256-GCM16, CHACHA20-POLY1305, PRFSHA256, PRFSHA384,
    ECP256, ECP384, ECP521, CURVE25519). The PSK file must be readable by
    its owner only. Identities: ipv4:ADDR, ipv6:ADDR, fqdn:NAME,
    email:ADDR, keyid:HEX. -i, -I and -l take seconds or durations (500ms,
    8h). A request unanswered after -i (default 500ms) is sent again, and
    again after each doubled interval, which stops growing at -I (default
    32s); after -t retransmissions (1 to 100, default 10) and one more
    interval the exchange has failed: 191.5 s with the defaults. The
    reference's -b and -c (X.509 certificates) are refused: certificates
    are not in this build.
    The IKE SA is rekeyed (RFC 7296 §2.18) at a random point between 80%
    and 90% of -l (default 4h), which is its hard limit. Sabre's options:
    -U UDP-encapsulates ESP (RFC 3948, port 4500) with this peer even
    where no NAT is, as strongSwan's encap = yes: sabre fakes its NAT
    detection so that both ends do. For firewalls that pass only UDP, and
    for speed: sabre run's ESP-in-UDP is faster than its raw ESP.
    -D: an IKE SA that heard nothing for this long (default 30s) checks
    its peer with an empty INFORMATIONAL; off never does. -T: that check
    fails after this long, not after the retransmissions. -A: after a
    dead peer, trap (default) waits for traffic, restart negotiates again
    at once, clear ignores traffic for the remote until the peer or the
    operator brings it back (or it is loaded again). -S: start negotiates
    the remote's policies at load and keeps them up, trap (default) on
    traffic, none only when the operator initiates.
ike remote -v [-n name]      show remotes as commands
ike remote -x name|ALLREMOTES
ike netstat [-p 3] [-r [-n name]] [-j] [-w]
    IKE SAs (state, SPIs, algorithms, NAT, age, Child SAs), counters and
    remotes; -j prints JSON; -w redraws it every second ("sabre ike
    netstat -w", until Ctrl-C). Keys are never shown. -p 1 and -p 2 (the
    reference's IKEv1 phases) are refused: IKEv1 is not in this build.
ike flush [-p 3] [-r [-n name]]
    delete IKE SAs (-p 3, telling peers) and/or remotes (-r, all or the one
    named); no option: both, as the reference says. It prints what it
    deleted ("1 IKE SA and 1 remote deleted").
ike debug [-t] [-d]          -d debug log, -t decode every message; none: off
ike commands [-f file]       print the running configuration as commands
ike initiate -n policy       negotiate a policy's SAs now
ike reload                   delete every IKE SA and remote, then re-read the
                             ike_rc (see ike_rc; SIGHUP keeps IKE SAs whose
                             remote did not change). A file with errors
                             stops it before anything is deleted.
ike help                     this page

An option may be given once. -i and -l are between 1ms and 8760h (a year).
The PSK file is read when the remote is added: it must be a regular file of
the daemon's user, mode 0600 or stricter, at most 4096 bytes; the key is
zeroed when the remote is deleted or replaced and when the daemon stops.

A policy names its IKE peer with "ipsec policy -g <remote>"; its first
packet (or "ike initiate") starts the negotiation.
`
