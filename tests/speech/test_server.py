"""The speech server on the real Korean model: one process decoding for many client streams."""

from __future__ import annotations

import json
import os
import socket
import stat
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from difflib import SequenceMatcher
from pathlib import Path

import pytest

from speech.client import RemoteSpeechEngine, RemoteUtteranceStream
from speech.protocol import MessageType, encode, encode_json, limits_to_json, read_message
from speech.recognizer import (
    EndReason,
    RefusalReason,
    SpeechEngine,
    StreamRefused,
    UtteranceLimits,
    UtteranceResult,
)
from speech.server import (
    SpeechServerError,
    SpeechServerProcess,
    _read_warm_speech,
    start_server_process,
)
from speech.synthetic import frames, line_hiss, telephone_speech
from tests.speech.conftest import ENDED_BY_SILENCE, FAST_FEED, KOREAN_MODEL

MAX_STREAMS = 3
# The default 2 s answer timeout is too short on a CI machine loaded by other tests: a late
# answer would be a (correct) UNAVAILABLE refusal, not what these tests are about.
LOADED_MACHINE_REPLY = 15.0
HELPER = Path(__file__).with_name("remote_client.py")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SpeechServerProcess]:
    """One server for the module: the model is loaded once, in that process only."""
    socket_path = tmp_path_factory.mktemp("speech") / "run" / "asr.sock"
    process, env = start_server_process({"ko": KOREAN_MODEL}, socket_path, MAX_STREAMS)
    assert env == {"TELESEC_RECOGNIZER_SOCKET": str(socket_path)}
    yield process
    assert process.stop() == 0


@pytest.fixture
def remote(server: SpeechServerProcess) -> Iterator[RemoteSpeechEngine]:
    engine = RemoteSpeechEngine.from_environment(
        {"TELESEC_RECOGNIZER_SOCKET": str(server.socket_path)}, limits=FAST_FEED,
        reply_timeout=LOADED_MACHINE_REPLY)
    assert engine is not None
    yield engine
    engine.shutdown()
    _wait_idle(engine)


def _wait_idle(engine: RemoteSpeechEngine, within: float = 10.0) -> None:
    """Until the server has no utterance left (cancelled ones free their slot shortly after)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        info = engine.ping()
        if info is not None and info["active_streams"] == 0:
            return
        time.sleep(0.05)
    raise AssertionError("the server still has utterances running")


def _start(engine: RemoteSpeechEngine, **kwargs) -> RemoteUtteranceStream:
    stream = engine.start_utterance("ko", **kwargs)
    assert isinstance(stream, RemoteUtteranceStream), stream
    return stream


def _feed_all(stream, pcm: bytes) -> None:
    for frame in frames(pcm):
        if not stream.feed(frame):
            break


@pytest.fixture(scope="module")
def spoken(booking_phrase: bytes) -> bytes:
    return booking_phrase + line_hiss(2.0)


@pytest.fixture(scope="module")
def reference(korean_registry, spoken: bytes) -> UtteranceResult:
    """What the in-process engine hears in the same audio."""
    engine = SpeechEngine(korean_registry, max_concurrent_streams=1, limits=FAST_FEED)
    try:
        stream = engine.start_utterance("ko")
        assert not isinstance(stream, StreamRefused)
        _feed_all(stream, spoken)
        return stream.result(60)
    finally:
        engine.shutdown()


def _like(result: UtteranceResult, reference: UtteranceResult, min_ratio: float = 0.4) -> bool:
    """Heard as in-process, ending at the same point of the audio. Vosk's decoding of the
    same audio varies by a word or two when several streams decode at once (measured
    in-process too), so the words are compared loosely; lost or reordered frames would not
    pass (the test sentence decodes to nine words)."""
    ratio = SequenceMatcher(None, result.text.split(), reference.text.split()).ratio()
    same_end = abs(result.audio_seconds - reference.audio_seconds) <= 0.5
    return result.heard and same_end and ratio >= min_ratio


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


# -- the socket and the handshake -----------------------------------------------------------


def test_socket_is_private_and_server_answers(server: SpeechServerProcess,
                                              remote: RemoteSpeechEngine):
    assert stat.S_IMODE(server.socket_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(server.socket_path.parent.stat().st_mode) == 0o700
    info = remote.ping()
    assert info is not None
    assert info["languages"] == ["ko"] and info["max_streams"] == MAX_STREAMS


def test_a_model_that_does_not_load_is_one_line(tmp_path: Path):
    broken = tmp_path / "not-a-model"
    broken.mkdir()
    with pytest.raises(SpeechServerError) as caught:
        start_server_process({"ko": broken}, tmp_path / "run" / "asr.sock", 1, ready_timeout=60)
    message = str(caught.value)
    assert "\n" not in message
    assert "speech server did not start" in message and "no acoustic model" in message


def test_recognizers_are_warmed_at_start_on_the_audio_given(tmp_path: Path,
                                                            caplog: pytest.LogCaptureFixture):
    prompts = tmp_path / "prompt.pcm"
    prompts.write_bytes(line_hiss(0.2) + telephone_speech("안녕하세요 예약을 하고 싶습니다"))
    server, _ = start_server_process(
        {"ko": KOREAN_MODEL}, tmp_path / "run" / "asr.sock", 2, ready_timeout=120,
        warm_audio={"ko": [prompts, tmp_path / "gone.pcm"]})
    try:
        engine = RemoteSpeechEngine(server.socket_path)
        deadline = time.monotonic() + 120
        while (info := engine.ping()) and info["warming"] and time.monotonic() < deadline:
            time.sleep(0.2)
        assert info is not None and info["prewarmed"] == 2 and not info["warming"]
    finally:
        server.stop()
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "warm-up audio" in said and "gone.pcm not read" in said  # one line, then on


def test_warm_audio_must_name_a_language(tmp_path: Path):
    with pytest.raises(ValueError, match="LANG=FILE"):
        _read_warm_speech([str(tmp_path / "prompt.pcm")])


def test_a_socket_directory_open_to_others_is_refused(tmp_path: Path):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    with pytest.raises(SpeechServerError, match="private directory"):
        start_server_process({}, shared / "asr.sock", 1, ready_timeout=60)


# -- recognition through the server ---------------------------------------------------------


def test_result_and_partials_match_in_process(remote: RemoteSpeechEngine, spoken: bytes,
                                              reference: UtteranceResult):
    partials: list[str] = []
    stream = _start(remote, on_partial=partials.append)
    _feed_all(stream, spoken)
    result = stream.result(60)
    assert partials and all(partials), "partials come before the final result"
    assert stream.partial == partials[-1]
    assert result.heard and result.end_reason in ENDED_BY_SILENCE
    assert _like(result, reference)
    assert result.audio_seconds == reference.audio_seconds
    assert [w.text for w in result.words] == result.text.split()
    assert 0.0 < result.confidence <= 1.0
    assert stream.feed(line_hiss(0.02)) is False, "an ended stream takes no more audio"


def test_grammar_plan_comes_back_from_the_server(remote: RemoteSpeechEngine, spoken: bytes):
    stream = _start(remote, phrases=["네", "oui", "아니요"])
    assert stream.plan.phrases == ("네", "아니요") and stream.plan.dropped == ("oui",)
    _feed_all(stream, spoken)
    result = stream.result(60)
    assert result.decoding is stream.plan.mode
    assert set(result.text.split()) <= {"네", "아니요"}


def test_concurrent_streams_from_threads(remote: RemoteSpeechEngine, spoken: bytes,
                                         reference: UtteranceResult):
    results: list[UtteranceResult] = []
    partial_counts: list[int] = []

    failures: list[str] = []

    def caller() -> None:
        partials: list[str] = []
        try:
            stream = _start(remote, on_partial=partials.append)
            _feed_all(stream, spoken)
            results.append(stream.result(90))
        except BaseException as exc:
            failures.append(repr(exc))
        partial_counts.append(len(partials))

    callers = [threading.Thread(target=caller) for _ in range(MAX_STREAMS)]
    for thread in callers:
        thread.start()
    for thread in callers:
        thread.join(120)
    assert not failures and len(results) == MAX_STREAMS, failures
    heard = [(r.text, r.end_reason, r.audio_seconds) for r in results]
    # every stream got all its audio (same end point) and was heard; Vosk decoding three
    # streams at once in one process sometimes changes half the words of one of them (CI,
    # 2026-12-07: 3 words of 9 shared), so the words must match for most streams only
    assert all(_like(r, reference, min_ratio=0.25) for r in results), (heard, reference.text)
    assert sum(_like(r, reference) for r in results) > MAX_STREAMS // 2, (heard, reference.text)
    assert all(count > 0 for count in partial_counts)


def test_two_client_processes_share_the_server_without_loading_the_model(
    server: SpeechServerProcess, spoken: bytes, reference: UtteranceResult
):
    clients = [
        subprocess.Popen([sys.executable, str(HELPER)], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env={**os.environ, "TELESEC_RECOGNIZER_SOCKET": str(server.socket_path)})
        for _ in range(2)
    ]
    outputs: list[dict] = []
    errors: list[str] = []

    def run(client: subprocess.Popen) -> None:  # both clients stream at the same time
        out, err = client.communicate(spoken, timeout=120)
        if client.returncode != 0:
            errors.append(err.decode(errors="replace")[-500:])
        else:
            outputs.append(json.loads(out))

    runners = [threading.Thread(target=run, args=(client,)) for client in clients]
    for runner in runners:
        runner.start()
    for runner in runners:
        runner.join(150)
    assert not errors and len(outputs) == 2, errors
    server_rss = _rss_kb(server.pid)
    for report in outputs:
        assert SequenceMatcher(None, report["text"].split(), reference.text.split()).ratio() >= 0.4
        assert report["end_reason"] in {str(r) for r in ENDED_BY_SILENCE}
        assert report["partials"] > 0
        assert report["vosk_loaded"] is False, "a worker must not load Vosk"
    client_rss = max(report["rss_kb"] for report in outputs)
    print(f"\nmemory: speech server RSS {server_rss / 1024:.0f} MB with the Korean model; "
          f"a client worker RSS {client_rss / 1024:.0f} MB")
    assert server_rss > 300 * 1024, "the server holds the model"
    assert client_rss < server_rss / 4


# -- back-pressure and failures ----------------------------------------------------------------


def test_saturated_server_refuses_at_once_then_frees_the_slot(remote: RemoteSpeechEngine):
    held = [_start(remote) for _ in range(MAX_STREAMS)]
    asked = time.monotonic()
    refused = remote.start_utterance("ko")
    assert isinstance(refused, StreamRefused) and refused.reason is RefusalReason.SATURATED
    assert time.monotonic() - asked < 3.0  # immediate; generous for a loaded CI machine
    held[0].cancel()
    assert held[0].result(1).end_reason is EndReason.CANCELLED
    deadline = time.monotonic() + 10
    while isinstance(again := remote.start_utterance("ko"), StreamRefused):
        assert time.monotonic() < deadline, "a cancelled stream frees its slot on the server"
        time.sleep(0.05)
    again.cancel()
    for stream in held[1:]:
        stream.cancel()


def test_unknown_language_is_no_model(remote: RemoteSpeechEngine):
    refused = remote.start_utterance("fr")
    assert isinstance(refused, StreamRefused) and refused.reason is RefusalReason.NO_MODEL


def test_server_overload_ends_the_utterance_as_overloaded(remote: RemoteSpeechEngine):
    tight = UtteranceLimits(silence_timeout=30.0, max_seconds=60.0, queue_seconds=0.3)
    stream = _start(remote, limits=tight)
    _feed_all(stream, line_hiss(30.0))
    assert stream.result(30).end_reason is EndReason.OVERLOADED


def test_no_server_is_a_clean_refusal(tmp_path: Path):
    missing = RemoteSpeechEngine(tmp_path / "nobody.sock")
    asked = time.monotonic()
    refused = missing.start_utterance("ko")
    assert isinstance(refused, StreamRefused) and refused.reason is RefusalReason.UNAVAILABLE
    assert missing.ping() is None
    stale = tmp_path / "stale.sock"
    leftover = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    leftover.bind(str(stale))  # bound, never listening: what a killed server leaves behind
    try:
        refused = RemoteSpeechEngine(stale).start_utterance("ko")
        assert isinstance(refused, StreamRefused) and refused.reason is RefusalReason.UNAVAILABLE
    finally:
        leftover.close()
    assert time.monotonic() - asked < 3.0


def test_a_server_that_never_answers_is_refused_within_the_timeout(tmp_path: Path):
    mute = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    mute.bind(str(tmp_path / "mute.sock"))
    mute.listen(4)
    try:
        engine = RemoteSpeechEngine(tmp_path / "mute.sock", reply_timeout=0.5)
        asked = time.monotonic()
        refused = engine.start_utterance("ko")
        assert isinstance(refused, StreamRefused) and refused.reason is RefusalReason.UNAVAILABLE
        assert time.monotonic() - asked < 3.0
    finally:
        mute.close()


def test_feed_never_blocks_when_the_server_stops_reading(tmp_path: Path):
    """A server that accepted then stopped reading: the queue fills, the stream is overloaded."""
    stuck = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stuck.bind(str(tmp_path / "stuck.sock"))
    stuck.listen(1)
    accepted: list[socket.socket] = []

    def accept_then_ignore() -> None:
        conn, _ = stuck.accept()
        accepted.append(conn)
        read_message(conn)
        conn.sendall(encode_json(MessageType.ACCEPTED, {"mode": "free"}))

    helper = threading.Thread(target=accept_then_ignore)
    helper.start()
    try:
        engine = RemoteSpeechEngine(tmp_path / "stuck.sock",
                                    limits=UtteranceLimits(queue_seconds=1.0))
        stream = engine.start_utterance("ko")
        assert isinstance(stream, RemoteUtteranceStream)
        slowest = 0.0
        for frame in frames(line_hiss(120.0)):
            began = time.monotonic()
            fed = stream.feed(frame)
            slowest = max(slowest, time.monotonic() - began)
            if not fed:
                break
        assert not fed, "feeding stops once the queue is full"
        assert stream.result(1).end_reason is EndReason.OVERLOADED
        assert slowest < 1.0, "feed returns at once even when the server stops reading"
    finally:
        helper.join(5)
        for conn in accepted:
            conn.close()
        stuck.close()


def test_client_leaving_mid_utterance_does_not_hurt_the_server(
    remote: RemoteSpeechEngine, server: SpeechServerProcess, spoken: bytes,
    reference: UtteranceResult,
):
    for _ in range(MAX_STREAMS + 1):  # more than the slots: each one must be given back
        raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        raw.connect(str(server.socket_path))
        raw.sendall(encode_json(MessageType.START, {"v": 1, "lang": "ko",
                                                    "limits": limits_to_json(FAST_FEED)}))
        kind, _ = read_message(raw) or (None, b"")
        assert kind is MessageType.ACCEPTED
        raw.sendall(encode(MessageType.AUDIO, spoken[: 32_000]))
        raw.close()
        _wait_idle(remote)
    stream = _start(remote)
    _feed_all(stream, spoken)
    assert _like(stream.result(60), reference)
    assert server.alive


@pytest.mark.parametrize(
    "garbage",
    [
        os.urandom(4096),
        struct.pack(">IB", 0xFFFFFFFF, 0x02),  # a length far beyond the limit
        struct.pack(">IB", 0, 0x01),
        encode(MessageType.AUDIO, b"\0" * 640),  # audio before START
        encode(MessageType.START, b"{not json"),
        encode_json(MessageType.START, {"v": 1, "lang": "ko", "phrases": "not a list"}),
        encode_json(MessageType.START, {"v": 99, "lang": "ko"}),
        encode_json(MessageType.START, {"v": 1, "lang": "ko"}) + encode(MessageType.AUDIO, b"\1"),
        encode_json(MessageType.START, {"v": 1, "lang": "ko"}) + bytes([0, 0, 0, 2, 0x7E, 0]),
        encode_json(MessageType.START, {"v": 1, "lang": "ko"}) + encode(MessageType.PING),
        encode(MessageType.START)[:3],  # cut in the middle of a header
    ],
    ids=["random", "huge-length", "zero-length", "audio-first", "bad-json", "bad-phrases",
         "other-version", "odd-audio", "unknown-type", "ping-mid-stream", "truncated"],
)
def test_garbage_does_not_crash_the_server(
    garbage: bytes, remote: RemoteSpeechEngine, server: SpeechServerProcess
):
    raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    raw.settimeout(10)
    raw.connect(str(server.socket_path))
    raw.sendall(garbage)
    raw.shutdown(socket.SHUT_WR)
    replies = []
    try:
        while (message := read_message(raw)) is not None:
            replies.append(message[0])
    except Exception:
        pass  # the server may cut a connection that sent garbage mid-message
    raw.close()
    assert MessageType.RESULT not in replies[:-1]
    assert server.alive
    _wait_idle(remote)
    assert remote.ping() is not None


def test_server_death_mid_utterance_fails_the_stream_cleanly(tmp_path: Path, spoken: bytes):
    process, env = start_server_process({"ko": KOREAN_MODEL}, tmp_path / "run" / "asr.sock", 1)
    try:
        engine = RemoteSpeechEngine.from_environment(env, limits=FAST_FEED,
                                                     reply_timeout=LOADED_MACHINE_REPLY)
        assert engine is not None
        stream = _start(engine)
        for frame in frames(spoken[: 32_000]):
            stream.feed(frame)
        os.kill(process.pid, 9)
        result = stream.result(10)
        assert result.end_reason is EndReason.FAILED and not result.heard
        assert stream.feed(spoken[:640]) is False
        refused = engine.start_utterance("ko")
        assert isinstance(refused, StreamRefused) and refused.reason is RefusalReason.UNAVAILABLE
    finally:
        process.stop(timeout=1)
