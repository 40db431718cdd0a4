// The secretary's softphone: her page rings when a caller asks for the secretariat.
// "Disponible" registers her practices' desks on the front with short-lived tokens from
// the API (never a password in the page); an escalation rings every available page of the
// practice, the first to answer gets the call (the front cancels the others) and claims
// the card with her login. Media: the browser's microphone and speaker, through the
// front's media relay (DTLS-SRTP), to the engine.

import JsSIP from "../vendor/jssip.js";
import {api} from "./api.js";
import {h, fill, announce, toast} from "./dom.js";
import * as fmt from "./format.js";

const CALL_HEADER = "X-Telesec-Call";
const BOX_PREFIX = "box-"; // a doctor's voicemail box as a transfer target (the engine's)
const KEYS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#"];

/** The calls' RTCPeerConnection settings: the TURN relay the API names (credentials as
 *  short-lived as the SIP token), media through it only when the practice asks. */
function peerConfig(grant) {
  const config = {iceServers: grant.ice_servers || []};
  if (grant.ice_transport_policy === "relay") config.iceTransportPolicy = "relay";
  return config;
}

/** With a TURN server, send the SDP once a relay candidate is there (or 2 s after the
 *  first candidate) rather than when the browser has tried every path: a TURN
 *  allocation that does not succeed on some interface would hold the answer for many
 *  seconds. Without TURN, gathering host candidates is quick: JsSIP waits for it. */
function sendCandidatesEarly(rtc, config) {
  if (!config.iceServers.length) return;
  let timer = null;
  rtc.on("icecandidate", ({candidate, ready}) => {
    if (candidate.type === "relay") {
      clearTimeout(timer);
      ready();
    } else {
      timer ??= setTimeout(ready, 2000);
    }
  });
  rtc.on("sdp", () => clearTimeout(timer));
}

function clock(seconds) {
  const m = Math.floor(seconds / 60), s = seconds % 60;
  return `${String(m).padStart(2, "0")}:${String(s).padStart(2, "0")}`;
}

/** The ring: a French ring-back cadence (1.5 s on, 3.5 s off) from an oscillator. */
class Ringer {
  constructor() { this.context = null; this.timer = null; this.tone = null; }

  prepare() { // from a click: browsers let audio start only after a gesture
    this.context ??= new AudioContext();
    if (this.context.state === "suspended") this.context.resume();
  }

  start() {
    if (this.timer || !this.context) return;
    const beep = () => {
      const tone = this.context.createOscillator();
      const gain = this.context.createGain();
      tone.frequency.value = 440;
      gain.gain.value = 0.15;
      tone.connect(gain).connect(this.context.destination);
      tone.start();
      tone.stop(this.context.currentTime + 1.5);
      this.tone = tone;
    };
    beep();
    this.timer = setInterval(beep, 5000);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
    try { this.tone?.stop(); } catch { /* already stopped */ }
    this.tone = null;
  }
}

/** How loud the caller is, from the audio received (shown while in a call). */
class LevelMeter {
  constructor(meter) { this.meter = meter; this.context = null; this.timer = null; this.peak = 0; }

  watch(stream) {
    this.stop();
    this.context = new AudioContext();
    const analyser = this.context.createAnalyser();
    analyser.fftSize = 1024;
    this.context.createMediaStreamSource(stream).connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    this.peak = 0;
    this.timer = setInterval(() => {
      analyser.getFloatTimeDomainData(samples);
      let sum = 0;
      for (const s of samples) sum += s * s;
      const level = Math.min(1, Math.sqrt(sum / samples.length) * 4);
      this.meter.value = level;
      this.peak = Math.max(this.peak, level);
      this.meter.dataset.peak = this.peak.toFixed(3);
    }, 100);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
    this.context?.close();
    this.context = null;
  }
}

export class Softphone {
  constructor(session) {
    this.session = session;
    this.feed = session.feed;
    this.agents = [];          // one JsSIP UA per practice desk
    this.available = false;
    this.call = null;          // {rtc, escalationId, callId, practice, state, started}
    this.peerConfig = {iceServers: []}; // the calls' ICE servers (peerConfig)
    this.ringer = new Ringer();
    this.renewal = null;
    this.ticker = null;
    this.muted = false;
    this.audio = h("audio", {autoplay: true, class: "visually-hidden"});
    this.meter = h("meter", {min: 0, max: 1, value: 0, class: "level",
                             "aria-label": "Niveau de la voix de l'appelant"});
    this.level = new LevelMeter(this.meter);
    this.doctors = new Map(); // practice slug -> its doctors (for "Messagerie de …")
    this.panel = h("aside", {class: "softphone", id: "softphone", "aria-label": "Téléphone"});
    this.unsubscribe = this.feed.subscribe(() => this.draw());
    document.body.append(this.panel, this.audio);
    this.draw();
  }

  // -- presence ------------------------------------------------------------------------------
  async goAvailable() {
    this.ringer.prepare();
    if ("Notification" in window && Notification.permission === "default") {
      Notification.requestPermission().catch(() => {});
    }
    let grant;
    try {
      grant = await api("/softphone/token", {method: "POST"});
    } catch (error) {
      toast(error.message, "error");
      return;
    }
    if (!grant.desks.length) {
      toast("Aucun cabinet ne vous est attribué : pas d'appel à recevoir.", "warn");
      return;
    }
    this.available = true;
    this.state = "connecting";
    this.draw();
    this.peerConfig = peerConfig(grant);
    this.agents = grant.desks.map(desk => this.agent(grant, desk));
    this.scheduleRenewal(grant.ttl_s);
  }

  agent(grant, desk) {
    const socket = new JsSIP.WebSocketInterface(grant.url);
    const ua = new JsSIP.UA({
      sockets: [socket],
      uri: `sip:${desk.desk}@${grant.realm}`,
      authorization_user: desk.username,
      password: desk.password,
      realm: grant.realm,
      register: true,
      register_expires: Math.min(600, grant.ttl_s),
      session_timers: false,
      user_agent: "Telesec console",
    });
    ua.on("registered", () => {
      this.state = "registered";
      this.draw();
      this.feed.emit(); // the cards offer the call-back through this desk
    });
    ua.on("unregistered", () => { if (this.available) { this.state = "connecting"; this.draw(); } });
    ua.on("registrationFailed", () => {
      this.state = "failed";
      this.draw();
      toast("Le téléphone n'a pas pu se connecter au serveur d'appels.", "error");
    });
    ua.on("disconnected", () => { if (this.available) { this.state = "connecting"; this.draw(); } });
    ua.on("newRTCSession", event => {
      if (event.originator === "remote") this.incoming(event.session, event.request, desk);
    });
    ua.start();
    return {ua, desk, realm: grant.realm};
  }

  scheduleRenewal(ttl) {
    clearTimeout(this.renewal);
    this.renewal = setTimeout(async () => {
      if (!this.available) return;
      try {
        const grant = await api("/softphone/token", {method: "POST"});
        this.peerConfig = peerConfig(grant); // fresh TURN credentials too
        for (const agent of this.agents) {
          const desk = grant.desks.find(d => d.desk === agent.desk.desk);
          if (!desk) continue;
          agent.ua.set("authorization_user", desk.username);
          agent.ua.set("password", desk.password);
          agent.desk = desk;
        }
        this.scheduleRenewal(grant.ttl_s);
      } catch {
        this.pause(); // the session has ended: no more calls here
      }
    }, Math.max(30, ttl / 2) * 1000);
  }

  pause() {
    this.available = false;
    clearTimeout(this.renewal);
    for (const {ua} of this.agents) {
      if (this.call) ua.unregister({all: false}); // the call in progress goes on
      else ua.stop();
    }
    if (!this.call) this.agents = [];
    this.draw();
  }

  stop() { // logout or session over: the call ends, the desks unregister
    this.call?.rtc.terminate();
    this.available = false;
    clearTimeout(this.renewal);
    for (const {ua} of this.agents) ua.stop();
    this.agents = [];
    this.ringer.stop();
    this.level.stop();
    this.unsubscribe();
    this.panel.remove();
    this.audio.remove();
  }

  // -- calls ---------------------------------------------------------------------------------
  /** Whether a call-back can leave now through ``practice``'s desk. */
  canDial(practice) {
    return !this.call && this.agents.some(a => a.desk.practice === practice && a.ua.isRegistered());
  }

  /** Call a patient back through the practice's line (the front presents its number);
   *  with ``escalationId``, an unanswered call is noted on that escalation. */
  dial(number, practice, escalationId) {
    const agent = this.agents.find(a => a.desk.practice === practice);
    if (!agent || this.call) return;
    const target = number.replace(/[^+0-9]/g, "");
    const rtc = agent.ua.call(`sip:${target}@${agent.realm}`, {
      mediaConstraints: {audio: true, video: false},
      pcConfig: this.peerConfig,
    });
    sendCandidatesEarly(rtc, this.peerConfig);
    this.call = {rtc, callId: "", practice, escalationId, outbound: true, state: "dialing",
                 started: 0};
    rtc.on("peerconnection", ({peerconnection}) => this.media(peerconnection));
    if (rtc.connection) this.media(rtc.connection);
    rtc.on("progress", () => { if (this.call) { this.call.state = "dialing"; this.draw(); } });
    rtc.on("confirmed", () => this.connected());
    rtc.on("ended", () => this.finished(escalationId
      ? "Appel terminé. Notez le résultat du rappel sur la carte." : "Appel terminé."));
    rtc.on("failed", event => {
      const unanswered = [JsSIP.C.causes.BUSY, JsSIP.C.causes.NO_ANSWER, JsSIP.C.causes.UNAVAILABLE,
                          JsSIP.C.causes.REJECTED, JsSIP.C.causes.REQUEST_TIMEOUT].includes(event.cause);
      if (unanswered && escalationId) this.noteCallback(escalationId, "no_answer");
      this.finished(!unanswered ? "L'appel n'a pas pu partir."
        : escalationId ? "Pas de réponse : rappel noté." : "Pas de réponse.");
    });
    announce("Appel en cours vers le patient");
    this.draw();
  }

  async noteCallback(escalationId, outcome) {
    try {
      const done = await api(`/escalations/${escalationId}/callbacks`,
                             {method: "POST", body: {outcome}});
      this.feed.change(done.status === "resolved" ? "resolved" : "claimed", done);
    } catch (error) {
      toast(error.message, "error");
    }
  }

  incoming(rtc, request, desk) {
    if (this.call) {
      rtc.terminate({status_code: 486, reason_phrase: "Busy Here"});
      return;
    }
    const callId = request.getHeader(CALL_HEADER) || "";
    this.call = {rtc, callId, practice: desk.practice, state: "ringing", started: 0};
    sendCandidatesEarly(rtc, this.peerConfig);
    rtc.on("peerconnection", ({peerconnection}) => this.media(peerconnection));
    rtc.on("accepted", () => { this.call.state = "connecting"; this.draw(); });
    rtc.on("confirmed", () => this.connected());
    rtc.on("ended", () => this.finished(
      this.call?.toBox ? "L'appelant laisse son message sur la messagerie."
        : this.call?.transferring ? "Appel transféré." : "Appel terminé."));
    rtc.on("failed", event => this.finished(
      event.cause === JsSIP.C.causes.CANCELED ? "Appel pris par une collègue ou raccroché."
        : "Appel perdu."));
    this.ringer.start();
    const practice = this.session.practices.find(p => p.slug === desk.practice);
    const where = practice ? practice.name : "le cabinet";
    announce(`Appel entrant pour ${where}`);
    if ("Notification" in window && Notification.permission === "granted" && document.hidden) {
      new Notification("Appel entrant", {body: where, tag: "telesec-call"});
    }
    this.draw();
  }

  media(peerconnection) {
    peerconnection.addEventListener("track", event => {
      const [stream] = event.streams;
      this.audio.srcObject = stream;
      this.audio.play().catch(() => {});
      this.level.watch(stream);
    });
  }

  answer() {
    const call = this.call;
    if (!call || call.state !== "ringing") return;
    this.ringer.stop();
    call.state = "connecting";
    call.clicked = performance.now();
    this.draw();
    call.rtc.answer({
      mediaConstraints: {audio: true, video: false},
      pcConfig: this.peerConfig,
      rtcOfferConstraints: {offerToReceiveAudio: true},
    });
    this.claim(call);
  }

  /** The card of this call says who took it: her. */
  async claim(call) {
    const escalation = this.escalationOf(call);
    if (!escalation) return;
    call.escalationId = escalation.id;
    if (escalation.status !== "waiting") return;
    try {
      const done = await api(`/escalations/${escalation.id}/claim`, {method: "POST"});
      this.feed.change("claimed", done);
    } catch (error) {
      if (error.status !== 409) toast(error.message, "error");
    }
  }

  escalationOf(call) {
    if (call.escalationId && this.feed.items.has(call.escalationId)) {
      return this.feed.items.get(call.escalationId);
    }
    if (!call.callId) return null;
    for (const escalation of this.feed.items.values()) {
      if (escalation.call_id === call.callId) return escalation;
    }
    return null;
  }

  connected() {
    const call = this.call;
    if (!call) return;
    call.state = "talking";
    call.started = Date.now();
    if (call.clicked) this.panel.dataset.answerMs = String(Math.round(performance.now() - call.clicked));
    this.ticker = setInterval(() => this.drawTimer(), 1000);
    if (!call.escalationId && !call.outbound) this.claim(call);
    if (!call.outbound) this.openBooking(call);
    this.draw();
  }

  /** The booking screen opens by itself on the caller: on the patient when the engine
   *  knows who the caller is (verified, or a new patient as declared; the same audited
   *  read as the queue), else empty with what the caller asked. */
  openBooking(call) {
    const escalation = this.escalationOf(call);
    if (!escalation || !this.session.go) return;
    const practiceId = escalation.practice_id;
    this.feed.detail(escalation.id).then(detail => {
      if (this.call !== call) return; // the call ended meanwhile
      const caller = detail.caller;
      this.session.go("rdv", caller
        ? {practiceId, patient: {...caller, id: caller.patient_id, practice_id: practiceId}}
        : {practiceId, asked: {intent: escalation.intent, transcript: detail.transcript || ""}});
    }, () => {});
  }

  /** The practice's doctors, for their voicemail boxes among the transfer choices. */
  doctorsOf(practice) {
    if (!this.doctors.has(practice)) {
      this.doctors.set(practice, api(`/practices/${encodeURIComponent(practice)}`)
        .then(detail => detail.practitioners.filter(p => p.active), () => []));
    }
    return this.doctors.get(practice);
  }

  finished(message) {
    this.ringer.stop();
    this.level.stop();
    clearInterval(this.ticker);
    this.ticker = null;
    this.call = null;
    this.muted = false;
    this.audio.srcObject = null;
    if (!this.available) {
      for (const {ua} of this.agents) ua.stop();
      this.agents = [];
    }
    announce(message);
    toast(message, "info");
    this.draw();
  }

  hangUp() { this.call?.rtc.terminate(); }

  toggleMute() {
    if (!this.call) return;
    this.muted = !this.muted;
    if (this.muted) this.call.rtc.mute({audio: true});
    else this.call.rtc.unmute({audio: true});
    this.draw();
  }

  toggleHold() {
    const call = this.call;
    if (!call || call.state !== "talking") return;
    if (call.held) call.rtc.unhold();
    else call.rtc.hold();
    call.held = !call.held; // the caller hears the engine's music meanwhile
    announce(call.held ? "Appel en attente" : "Appel repris");
    this.draw();
  }

  /** Blind transfer (REFER): the engine calls ``target`` and passes the caller on once it
   *  answers; she stays with the caller meanwhile, and her call ends when it is done. */
  transfer(target) {
    const call = this.call;
    const agent = call && this.agents.find(a => a.desk.practice === call.practice);
    const user = target.trim();
    if (!call || call.outbound || call.state !== "talking" || !agent || !user) return;
    if (!/^[A-Za-z0-9._-]+$/.test(user) || /^\+?[0-9]+$/.test(user)) {
      toast("Transfert possible vers le secrétariat ou l'identifiant d'une personne du cabinet.", "warn");
      return;
    }
    call.transferring = true;
    const box = user.startsWith(BOX_PREFIX);
    call.toBox = box;
    // the caller's Call-ID rides in the Refer-To URI: the colleague's page finds the card
    const header = call.callId ? `?${CALL_HEADER}=${encodeURIComponent(call.callId)}` : "";
    call.rtc.refer(`sip:${user}@${agent.realm}${header}`, {eventHandlers: {
      requestFailed: () => this.transferFailed("Transfert refusé."),
      // a box is no call: the engine takes the caller back and ends her leg itself
      failed: box ? () => {}
        : () => this.transferFailed("Personne n'a répondu : l'appelant est toujours avec vous."),
    }});
    announce(box ? "Passage à la messagerie" : "Transfert en cours");
    this.draw();
  }

  transferFailed(message) {
    if (!this.call) return;
    this.call.transferring = false;
    toast(message, "warn");
    this.draw();
  }

  key(tone) {
    if (this.call?.state === "talking") this.call.rtc.sendDTMF(tone, {transportType: "RFC2833"});
  }

  // -- drawing -------------------------------------------------------------------------------
  transferForm(call) {
    if (call.transferring) return h("p", {class: "muted", role: "status"}, "Transfert en cours…");
    if (call.transferForm) return call.transferForm; // kept across redraws: what she typed stays
    const desk = `desk-${call.practice}`;
    const who = h("input", {type: "text", list: "transfer-targets", autocomplete: "off",
                            "aria-label": "Transférer à (identifiant)", placeholder: "secrétariat ou identifiant"});
    const choices = h("datalist", {id: "transfer-targets"}, h("option", {value: desk}, "Secrétariat : les collègues disponibles"));
    const boxes = h("div", {class: "transfer-boxes", role: "group", "aria-label": "Messageries des médecins"});
    this.doctorsOf(call.practice).then(doctors => {
      for (const doctor of doctors) {
        const label = `Messagerie de ${doctor.name}`;
        choices.append(h("option", {value: `${BOX_PREFIX}${doctor.slug}`}, label));
        boxes.append(h("button", {type: "button", class: "secondary small",
                                  onclick: () => this.transfer(`${BOX_PREFIX}${doctor.slug}`)}, label));
      }
    });
    const form = h("form", {class: "transfer"}, who, choices,
      h("button", {type: "submit", class: "secondary"}, "Transférer"), boxes);
    form.addEventListener("submit", event => {
      event.preventDefault();
      this.transfer(who.value || desk);
    });
    call.transferForm = form;
    return form;
  }

  drawTimer() {
    const timer = this.panel.querySelector(".call-timer");
    if (timer && this.call?.started) {
      timer.textContent = clock(Math.floor((Date.now() - this.call.started) / 1000));
    }
  }

  context() {
    const call = this.call;
    const escalation = call ? this.escalationOf(call) : null;
    if (!escalation) return h("p", {class: "muted"}, "Appel transféré par le serveur vocal.");
    const place = h("div", {class: "phone-context"},
      h("p", {}, h("strong", {}, fmt.intentLabel(escalation.intent)),
        escalation.priority ? h("span", {class: "badge urgent"}, "Urgent") : null));
    this.feed.detail(escalation.id).then(detail => {
      const caller = detail.caller;
      place.append(caller
        ? h("p", {class: "caller"}, h("strong", {}, `${caller.last_name.toUpperCase()} ${caller.first_name}`),
          " ", h("span", {class: `badge ${fmt.identityState(caller).tone}`},
            fmt.identityState(caller).label),
          h("span", {class: "muted"}, ` — né(e) le ${fmt.birthDate(caller.birth_date)}`))
        : h("p", {class: "caller unknown"}, "Appelant non identifié"));
      if (detail.transcript) place.append(h("blockquote", {}, detail.transcript));
    }, () => {});
    return place;
  }

  draw() {
    const call = this.call;
    const presence = this.available
      ? h("button", {type: "button", class: "secondary", onclick: () => this.pause()}, "Me mettre en pause")
      : h("button", {type: "button", class: "primary", onclick: () => this.goAvailable()}, "Me rendre disponible");
    const state = !this.available ? "En pause"
      : this.state === "registered" ? "Disponible"
        : this.state === "failed" ? "Hors ligne" : "Connexion…";
    const head = h("header", {class: "phone-head"},
      h("span", {class: `presence ${this.available && this.state === "registered" ? "on" : "off"}`,
                 role: "status"}, state),
      presence);
    if (!call) {
      fill(this.panel, head);
      this.panel.className = "softphone";
      return;
    }
    this.panel.className = `softphone ${call.state}`;
    if (call.state === "ringing") {
      fill(this.panel, head,
        h("p", {class: "ringing-line", role: "alert"}, "Appel entrant…"),
        this.context(),
        h("div", {class: "actions"},
          h("button", {type: "button", class: "primary answer", onclick: () => this.answer()}, "Décrocher")));
      return;
    }
    const pad = h("div", {class: "dtmf", role: "group", "aria-label": "Clavier"},
      KEYS.map(k => h("button", {type: "button", class: "key", onclick: () => this.key(k)}, k)));
    fill(this.panel, head,
      h("p", {class: "in-call"},
        call.state === "dialing" ? "Appel du patient… "
          : call.state !== "talking" ? "Connexion de l'appel… "
          : call.held ? "En attente (musique pour l'appelant) " : "En communication ",
        h("span", {class: "call-timer"}, "00:00")),
      this.context(),
      this.meter,
      h("div", {class: "actions"},
        h("button", {type: "button", class: "secondary", "aria-pressed": String(this.muted),
                     onclick: () => this.toggleMute()}, this.muted ? "Réactiver le micro" : "Couper le micro"),
        h("button", {type: "button", class: "secondary", "aria-pressed": String(Boolean(call.held)),
                     onclick: () => this.toggleHold()}, call.held ? "Reprendre" : "Mettre en attente"),
        h("button", {type: "button", class: "danger", onclick: () => this.hangUp()}, "Raccrocher")),
      call.outbound ? null : this.transferForm(call),
      pad);
    this.drawTimer();
  }
}
