"""Run as a script by test_clock_thread.py: two ports connected through the bridge, twice,
with the clock closed by pjsua in between. Prints one JSON line per round: the number of
Python thread states during the call and after it, and whether the clock's state is pinned.
"""

from __future__ import annotations

import ctypes
import json
import os
import time

import pjsua2 as pj

from telephony.media import CLOCK_THREAD, CallerAudioTap, PromptPlayer
from telephony.port_pool import AudioPortPool

api = ctypes.pythonapi
api.PyInterpreterState_Main.restype = ctypes.c_void_p
api.PyInterpreterState_ThreadHead.restype = ctypes.c_void_p
api.PyInterpreterState_ThreadHead.argtypes = [ctypes.c_void_p]
api.PyThreadState_Next.restype = ctypes.c_void_p
api.PyThreadState_Next.argtypes = [ctypes.c_void_p]


def thread_states() -> int:
    count, state = 0, api.PyInterpreterState_ThreadHead(api.PyInterpreterState_Main())
    while state:
        count += 1
        state = api.PyThreadState_Next(state)
    return count


def poll(ep: pj.Endpoint, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        ep.libHandleEvents(50)


def main() -> None:
    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.logConfig.level = cfg.logConfig.consoleLevel = 0
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    med = cfg.medConfig
    med.clockRate = med.sndClockRate = 8000
    med.channelCount = 1
    med.audioFramePtime = 40
    ep.libInit(cfg)
    ep.audDevManager().setNullDev()
    ep.libStart()
    pool = AudioPortPool(8000, rest_seconds=0.0)
    for _ in range(2):
        a = pool.acquire(CallerAudioTap(PromptPlayer(8000)), time.monotonic())
        b = pool.acquire(CallerAudioTap(PromptPlayer(8000)), time.monotonic())
        a.startTransmit(b)
        b.startTransmit(a)
        poll(ep, 0.5)
        during, pinned_during = thread_states(), CLOCK_THREAD.pinned is not None
        a.stopTransmit(b)
        b.stopTransmit(a)
        pool.release(a, time.monotonic())
        pool.release(b, time.monotonic())
        poll(ep, 1.6)  # pjsua closes the idle clock after 1 s
        print(json.dumps({"during": during, "pinned_during": pinned_during,
                          "after": thread_states(), "pinned_after": CLOCK_THREAD.pinned
                          is not None, "errors": a.errors + b.errors}), flush=True)
    os._exit(0)  # the library is left as is: no shutdown to wait for


if __name__ == "__main__":
    main()
