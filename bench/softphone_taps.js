// Onset taps of bench/softphone_latency.py, injected into the console page before its
// scripts. The wall time (performance.timeOrigin + performance.now(), in ms) at which
// - "local": the secretary's microphone (her capture track, as getUserMedia gives it)
// - "remote": the caller's voice (the received track, after the browser's jitter buffer)
// becomes loud after QUIET_MS of quiet, from AnalyserNodes polled every POLL_MS. The
// window (SIZE samples) is longer than a poll, so a late poll loses no sample: the onset
// is placed at its sample in the window, counted back from the poll's time.
(() => {
  const POLL_MS = 5, SIZE = 2048, THRESHOLD = 0.05, QUIET_MS = 200;
  const taps = {local: [], remote: [], polls: 0, lateMs: 0, info: {}};
  window.__latencyTaps = taps;
  let context = null;

  function watch(kind, track) {
    context ??= new AudioContext();
    context.resume();
    taps.info = {rate: context.sampleRate, baseLatency: context.baseLatency,
                 outputLatency: context.outputLatency};
    const analyser = context.createAnalyser();
    analyser.fftSize = SIZE;
    context.createMediaStreamSource(new MediaStream([track])).connect(analyser);
    const samples = new Float32Array(SIZE);
    const windowMs = SIZE / context.sampleRate * 1000;
    let lastLoud = -Infinity, lastPoll = 0;
    setInterval(() => {
      const now = performance.timeOrigin + performance.now();
      if (lastPoll) taps.lateMs = Math.max(taps.lateMs, now - lastPoll - POLL_MS);
      lastPoll = now;
      taps.polls += 1;
      analyser.getFloatTimeDomainData(samples);
      let first = -1, last = -1;
      for (let i = 0; i < SIZE; i++) {
        if (Math.abs(samples[i]) > THRESHOLD) { if (first < 0) first = i; last = i; }
      }
      if (first < 0) return;
      const at = index => now - windowMs + (index + 1) * windowMs / SIZE;
      if (at(first) - lastLoud >= QUIET_MS) taps[kind].push(at(first));
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
  const Native = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("track", event => {
        if (event.track.kind === "audio") watch("remote", event.track);
      });
    }
  };
})();
