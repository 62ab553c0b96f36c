package sad

// Session is the SAs of one SPD policy (the reference's IPSecSession): the
// outbound ESP and/or AH SA the engine sends on, the outbound SAs a rekey
// replaced, and every inbound SA.
//
// When an outbound SA is added to a session that already has one of its
// protocol, the new one becomes current and the old one Previous until it is
// deleted; if the current one is deleted first, the newest remaining one is
// current again. A demoted SA (DB.Demote) is never current, only Previous.
// The engine always sends on the current SA. Inbound packets
// find their SA by SPI (DB.LookupInbound), so old and new inbound SAs both
// accept traffic during a rekey.
//
// A Session is an immutable snapshot: the DB replaces it when its SAs
// change. Its slices must not be modified.
type Session struct {
	policyID uint32
	sas      []*SA // in the order they were added
	esp, ah  [2]*SA
	inbound  []*SA
}

// PolicyID returns the id of the session's policy.
func (s *Session) PolicyID() uint32 { return s.policyID }

// OutboundESP returns the current outbound ESP SA, or nil. A nil Session has
// none.
func (s *Session) OutboundESP() *SA {
	if s == nil {
		return nil
	}
	return s.esp[0]
}

// OutboundAH returns the current outbound AH SA, or nil.
func (s *Session) OutboundAH() *SA {
	if s == nil {
		return nil
	}
	return s.ah[0]
}

// PreviousESP returns the outbound ESP SA that the current one replaced, or
// nil.
func (s *Session) PreviousESP() *SA {
	if s == nil {
		return nil
	}
	return s.esp[1]
}

// PreviousAH returns the outbound AH SA that the current one replaced, or
// nil.
func (s *Session) PreviousAH() *SA {
	if s == nil {
		return nil
	}
	return s.ah[1]
}

// Inbound returns the session's inbound SAs, oldest first.
func (s *Session) Inbound() []*SA {
	if s == nil {
		return nil
	}
	return s.inbound
}

// SAs returns all the session's SAs, oldest first.
func (s *Session) SAs() []*SA {
	if s == nil {
		return nil
	}
	return s.sas
}

// newSession builds the session of policyID from its SAs in add order, nil
// if there are none.
func newSession(policyID uint32, sas []*SA) *Session {
	if len(sas) == 0 {
		return nil
	}
	s := &Session{policyID: policyID, sas: sas}
	for _, sa := range sas {
		if sa.cfg.Direction == Inbound {
			s.inbound = append(s.inbound, sa)
		}
	}
	s.esp = currentAndPrevious(sas, ESP)
	s.ah = currentAndPrevious(sas, AH)
	return s
}

// currentAndPrevious returns the current outbound SA of proto among sas (in
// add order), the newest that is not demoted, and the previous one, the
// newest of the others.
func currentAndPrevious(sas []*SA, proto Protocol) (cp [2]*SA) {
	out := func(sa *SA) bool { return sa.cfg.Direction == Outbound && sa.cfg.Protocol == proto }
	for i := len(sas) - 1; i >= 0; i-- {
		if out(sas[i]) && !sas[i].demoted {
			cp[0] = sas[i]
			break
		}
	}
	for i := len(sas) - 1; i >= 0; i-- {
		if out(sas[i]) && sas[i] != cp[0] {
			cp[1] = sas[i]
			break
		}
	}
	return cp
}
