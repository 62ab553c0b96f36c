package ike

// HalfOpen returns how many IKE SAs have not completed IKE_AUTH, and
// whether the responder is in cookie mode: so many are half-open that it
// answers new IKE_SA_INITs with a COOKIE first (RFC 7296 §2.6).
func (d *Daemon) HalfOpen() (n int, cookieMode bool) {
	n = d.mgr.HalfOpen()
	return n, n >= d.mgr.MaxHalfOpen/2
}
