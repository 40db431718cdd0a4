"""SIP user agent workers (pjsua2), media, transfer, and the Kamailio front."""
