// Onset taps of bench/softphone_latency.py, injected into the console page before its
// scripts. The wall time (performance.timeOrigin + performance.now(), in ms) at which
// - "local": the secretary's microphone (her capture track, as getUserMedia gives it)
// - "remote": the caller's voice (the received track, after the browser's jitter buffer)
// becomes loud after QUIET_MS of quiet, from AnalyserNodes polled every POLL_MS. The
// window (SIZE samples) is longer than a poll, so a late poll loses no sample: the onset
// is placed at its sample in the window, counted back from the poll's time. An onset
// seen by a poll that came more than a window after the one before (the page's main
// thread starved) may be late: it goes to "uncovered" instead.
(() => {
  const POLL_MS = 5, SIZE = 8192, THRESHOLD = 0.05, QUIET_MS = 200;
  const taps = {local: [], remote: [], uncovered: {local: [], remote: []}, lateMs: 0, info: {}};
  window.__latencyTaps = taps;
  let context = null;

  function watch(kind, track) {
    context ??= new AudioContext();
    context.resume();
    taps.info = {rate: context.sampleRate, baseLatency: context.baseLatency, size: SIZE};
    const analyser = context.createAnalyser();
    analyser.fftSize = SIZE;
    context.createMediaStreamSource(new MediaStream([track])).connect(analyser);
    const samples = new Float32Array(SIZE);
    const windowMs = SIZE / context.sampleRate * 1000;
    let lastLoud = -Infinity, lastPoll = 0;
    setInterval(() => {
      const now = performance.timeOrigin + performance.now();
      const covered = now - lastPoll < windowMs;
      if (lastPoll) taps.lateMs = Math.max(taps.lateMs, now - lastPoll - POLL_MS);
      lastPoll = now;
      analyser.getFloatTimeDomainData(samples);
      let first = -1, last = -1;
      for (let i = 0; i < SIZE; i++) {
        if (Math.abs(samples[i]) > THRESHOLD) { if (first < 0) first = i; last = i; }
      }
      if (first < 0) return;
      const at = index => now - windowMs + (index + 1) * windowMs / SIZE;
      if (at(first) - lastLoud >= QUIET_MS) {
        if (covered) taps[kind].push(at(first));
        else taps.uncovered[kind].push(at(first));
      }
      lastLoud = Math.max(lastLoud, at(last));
    }, POLL_MS);
  }

  const devices = navigator.mediaDevices;
  const getUserMedia = devices.getUserMedia.bind(devices);
  devices.getUserMedia = async constraints => {
    const stream = await getUserMedia(constraints);
    for (const track of stream.getAudioTracks()) watch("local", track);
    return stream;
  };
  // the page's clock against the system's (Date.now(), as Python's time.time()), the
  // last call's codecs and its jitter buffer's totals (WebRTC stats: seconds, samples)
  let latest = null;
  window.__latencyStats = async () => {
    const found = {clockMs: performance.timeOrigin + performance.now() - Date.now(),
                   codecs: {}, jitterDelay: 0, jitterEmitted: 0};
    if (!latest) return found;
    const stats = await latest.getStats();
    stats.forEach(entry => {
      if (entry.type === "inbound-rtp" && entry.kind === "audio") {
        found.jitterDelay = entry.jitterBufferDelay || 0;
        found.jitterEmitted = entry.jitterBufferEmittedCount || 0;
      }
      if ((entry.type === "inbound-rtp" || entry.type === "outbound-rtp") && entry.codecId) {
        found.codecs[entry.type] = stats.get(entry.codecId)?.mimeType;
      }
    });
    return found;
  };
  const Native = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends Native {
    constructor(...args) {
      super(...args);
      latest = this;
      this.addEventListener("track", event => {
        if (event.track.kind === "audio") watch("remote", event.track);
      });
    }
  };
})();
