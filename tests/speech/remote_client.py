"""A stand-in worker process for the speech-server tests: streams stdin's PCM to the server.

``TELESEC_RECOGNIZER_SOCKET=PATH python tests/speech/remote_client.py`` (as a pool worker gets
it from the supervisor's preload hook) reads 16 kHz s16le PCM on stdin (a pipe, never
a file), feeds it in 20 ms frames through :class:`speech.client.RemoteSpeechEngine`, and
prints one JSON line: the result, the number of partials, this process's RSS and whether
libvosk is mapped in it (it must not be).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from speech.client import RemoteSpeechEngine
from speech.recognizer import StreamRefused, UtteranceLimits
from speech.synthetic import frames


def rss_kb(pid: str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    pcm = sys.stdin.buffer.read()
    engine = RemoteSpeechEngine.from_environment(limits=UtteranceLimits(
        silence_timeout=3.0, queue_seconds=60.0, stall_timeout=20.0), reply_timeout=15.0)
    assert engine is not None, "TELESEC_RECOGNIZER_SOCKET is not set"
    partials: list[str] = []
    stream = engine.start_utterance("ko", on_partial=partials.append)
    if isinstance(stream, StreamRefused):
        print(json.dumps({"refused": str(stream.reason)}), flush=True)
        return
    for frame in frames(pcm):
        if not stream.feed(frame):
            break
    result = stream.result(60)
    maps = Path("/proc/self/maps").read_text()
    print(json.dumps({
        "text": result.text, "end_reason": str(result.end_reason), "partials": len(partials),
        "rss_kb": rss_kb(), "vosk_loaded": "libvosk" in maps or "vosk" in sys.modules,
    }), flush=True)


if __name__ == "__main__":
    main()
