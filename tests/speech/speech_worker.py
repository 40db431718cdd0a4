"""A stand-in pool worker for the speech-server pool test: no SIP, just the speech client.

``python tests/speech/speech_worker.py PORT`` builds its engine from
``$TELESEC_RECOGNIZER_SOCKET`` (set by the supervisor's preload hook), decodes one short
utterance of line hiss through the server, prints ``speech=<end reason or refusal>`` (the
supervisor logs it), then its ``READY port=PORT`` line, and waits for SIGTERM.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from speech.client import RemoteSpeechEngine
from speech.recognizer import StreamRefused
from speech.synthetic import frames, line_hiss


def main() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    engine = RemoteSpeechEngine.from_environment(reply_timeout=15.0)  # CI may be loaded
    outcome = "no-socket"
    if engine is not None:
        stream = engine.start_utterance("ko")
        if isinstance(stream, StreamRefused):
            outcome = f"refused-{stream.reason}"
        else:
            for frame in frames(line_hiss(0.5)):
                stream.feed(frame)
            stream.end_input()
            outcome = str(stream.result(30).end_reason)
    print(f"speech={outcome}", flush=True)
    print(f"READY port={sys.argv[1]}", flush=True)
    stop.wait()


if __name__ == "__main__":
    main()
