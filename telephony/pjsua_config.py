"""A worker's settings turned into pjsua2's: endpoint, transports, accounts, codecs.

Only builders: nothing here starts, polls or owns anything (``telephony.endpoint`` does).
"""

from __future__ import annotations

import pjsua2 as pj

from telephony.audio import FRAME_MS
from telephony.rtp_ports import PJSUA_PORT_RANGE
from telephony.worker_config import PJSUA_MAX_CALLS, SRTP_MODES, Registration, WorkerConfig

#: codecs offered and accepted, best first; every other codec is disabled. Narrowband
#: workers take G.722 too, last: a caller offering only G.722 is answered (that call alone
#: is resampled by the 8 kHz bridge) instead of refused
NARROWBAND_CODECS = ("PCMA/8000/1", "PCMU/8000/1")
CODECS = (*NARROWBAND_CODECS, "G722/16000/1")
RESAMPLE_QUALITY = 4  # pjsua media quality: 3-4 = small-filter resampling


def endpoint_config(cfg: WorkerConfig) -> pj.EpConfig:
    """One SIP thread polled by us (no pjsua threads), the media clock at the calls' rate.

    A narrowband worker runs its bridge at 8 kHz, the rate of its G.711 calls: none of
    their frames is resampled (a G.722-only call, the exception, is). A wideband worker
    runs it at 16 kHz, and its G.711 calls are resampled with the small filter
    (``RESAMPLE_QUALITY``).
    """
    ep_cfg = pj.EpConfig()
    ep_cfg.uaConfig.threadCnt = 0
    ep_cfg.uaConfig.mainThreadOnly = True
    # callers are limited by admission (cfg.max_calls); pjsua keeps every line it has, so
    # a worker full of callers still dials the secretaries for a bridged transfer
    ep_cfg.uaConfig.maxCalls = PJSUA_MAX_CALLS
    ep_cfg.uaConfig.userAgent = cfg.user_agent
    ep_cfg.logConfig.level = cfg.pjsip_log_level
    ep_cfg.logConfig.consoleLevel = cfg.pjsip_log_level
    ep_cfg.logConfig.msgLogging = 0  # SIP messages carry phone numbers: never log them
    ep_cfg.logConfig.decor = pj.PJ_LOG_HAS_SENDER  # the time and level are logging's
    med = ep_cfg.medConfig
    med.clockRate = cfg.clock_rate
    # pjsua's default quality (8) resamples the 8 kHz calls to the 16 kHz bridge with
    # libresample's large filter, the biggest cost of the media clock; 4 selects its
    # small filter (bench/README.md, sip_load findings)
    med.quality = RESAMPLE_QUALITY
    med.sndClockRate = cfg.clock_rate
    med.channelCount = 1
    med.audioFramePtime = FRAME_MS
    med.ecTailLen = 0
    med.noVad = True
    med.threadCnt = 1
    return ep_cfg


def transport_config(host: str, port: int) -> pj.TransportConfig:
    """A UDP or TCP transport listening on ``host``:``port``."""
    transport = pj.TransportConfig()
    transport.boundAddress = host
    transport.port = port
    return transport


def tls_transport_config(cfg: WorkerConfig) -> pj.TransportConfig:
    """The TLS transport: certificate and key, TLS 1.2+, peers verified when a CA is given."""
    assert cfg.tls is not None
    tls = transport_config(cfg.host, cfg.tls.port)
    tls.tlsConfig.certFile = cfg.tls.cert_file
    tls.tlsConfig.privKeyFile = cfg.tls.key_file
    tls.tlsConfig.proto = pj.PJ_SSL_SOCK_PROTO_TLS1_2 | pj.PJ_SSL_SOCK_PROTO_TLS1_3
    if cfg.tls.ca_file:
        tls.tlsConfig.CaListFile = cfg.tls.ca_file
        tls.tlsConfig.verifyServer = True
    tls.tlsConfig.verifyClient = cfg.tls.verify_client
    tls.tlsConfig.requireClientCert = cfg.tls.verify_client
    return tls


def account_config(cfg: WorkerConfig, id_uri: str) -> pj.AccountConfig:
    """An account answering as ``id_uri``, its RTP on the worker's ports, SRTP as set;
    behind a front (``outbound_proxy``), its outgoing legs go out through the front."""
    acc_cfg = pj.AccountConfig()
    acc_cfg.idUri = id_uri
    if cfg.outbound_proxy:
        acc_cfg.sipConfig.proxies.append(cfg.outbound_proxy + ";lr")
    acc_cfg.mediaConfig.transportConfig.boundAddress = cfg.host
    acc_cfg.mediaConfig.transportConfig.port = cfg.effective_rtp_port
    acc_cfg.mediaConfig.transportConfig.portRange = PJSUA_PORT_RANGE
    acc_cfg.mediaConfig.srtpUse = SRTP_MODES[cfg.srtp]
    acc_cfg.mediaConfig.srtpSecureSignaling = cfg.srtp_secure_signaling
    return acc_cfg


def registered_account_config(cfg: WorkerConfig, reg: Registration) -> pj.AccountConfig:
    """The account of registered mode: ``reg.aor`` registered with digest credentials."""
    acc_cfg = account_config(cfg, reg.aor)
    acc_cfg.regConfig.registrarUri = reg.registrar
    acc_cfg.regConfig.timeoutSec = reg.expiry
    acc_cfg.regConfig.retryIntervalSec = reg.retry_seconds
    acc_cfg.regConfig.firstRetryIntervalSec = min(reg.retry_seconds, 5)
    # refresh well before expiry; pjsua's 5 s default is too tight for short expiries
    acc_cfg.regConfig.delayBeforeRefreshSec = max(2, min(60, reg.expiry // 3))
    acc_cfg.regConfig.dropCallsOnFail = False
    acc_cfg.sipConfig.authCreds.append(
        pj.AuthCredInfo("digest", reg.realm, reg.auth_user, 0, reg.password)
    )
    return acc_cfg


def set_codecs(ep: pj.Endpoint) -> None:
    """Enable :data:`CODECS` only, in that order of preference (narrowband and wideband
    workers alike: the bridge's rate is what differs)."""
    for codec in ep.codecEnum2():
        ep.codecSetPriority(codec.codecId, 0)
    for rank, codec_id in enumerate(CODECS):
        ep.codecSetPriority(codec_id, 200 - rank)
