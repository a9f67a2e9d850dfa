"""SIP trunks: a strict sans-IO SIP core (messages, transactions, dialogs, digest auth, SDP) and
RTP/RTCP for G.711 (docs/sip.md)."""
