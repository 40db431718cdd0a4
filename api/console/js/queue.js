// The secretaries' live queue: escalated calls arrive over Server-Sent Events.
// The stream carries codes and ids only; who is calling and what they said come from
// the audited detail endpoint, fetched once per call and kept in memory.

import {api} from "./api.js";
import {h, fill, announce, toast, busy} from "./dom.js";
import * as fmt from "./format.js";

const RESOLUTIONS = [
  ["handled", "Demande traitée"],
  ["booked", "Rendez-vous pris"],
  ["called_back", "Rappelé"],
  ["message_passed", "Message transmis"],
  ["redirected_emergency", "Orienté vers le 15"],
];

const CALLBACK_OUTCOMES = [
  ["reached", "Joint"],
  ["message_left", "Message laissé"],
  ["no_answer", "Pas de réponse"],
];

/** The open escalations of the secretary's practices, kept live. */
export class QueueFeed {
  constructor(session) {
    this.session = session;
    this.items = new Map();
    this.details = new Map();
    this.numbers = new Map(); // numbers to call back, revealed on a click (in memory only)
    this.listeners = new Set();
    this.state = "connecting";
    this.source = null;
    this.retry = null;
  }

  subscribe(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit() {
    for (const listener of this.listeners) listener();
  }

  start() {
    const source = new EventSource("/escalations/stream");
    this.source = source;
    source.addEventListener("open", () => { this.state = "live"; this.emit(); });
    source.addEventListener("snapshot", event => {
      const {escalations} = JSON.parse(event.data);
      this.items = new Map(escalations.map(e => [e.id, e]));
      this.emit();
    });
    for (const kind of ["waiting", "claimed", "resolved"]) {
      source.addEventListener(kind, event => this.change(kind, JSON.parse(event.data)));
    }
    source.addEventListener("error", () => {
      this.state = "reconnecting";
      this.emit();
      if (source.readyState === EventSource.CLOSED) {
        // refused (session over?) or server gone: check the session, then retry
        this.retry = setTimeout(async () => {
          try {
            await api("/auth/me");
          } catch (error) {
            if (error.status === 401) return;
          }
          if (this.source === source) this.start();
        }, 3000);
      }
    });
  }

  change(kind, escalation) {
    const known = this.items.has(escalation.id);
    if (kind === "resolved") {
      this.items.delete(escalation.id);
      this.details.delete(escalation.id);
      this.numbers.delete(escalation.id);
    } else {
      this.items.set(escalation.id, escalation);
    }
    if (kind === "waiting" && !known) {
      const text = escalation.priority ? "Appel urgent en attente" : "Nouvel appel en attente";
      announce(`${text} : ${fmt.intentLabel(escalation.intent)}`);
      toast(`${text} — ${fmt.intentLabel(escalation.intent)}`, escalation.priority ? "error" : "info");
    }
    this.emit();
  }

  stop() {
    clearTimeout(this.retry);
    this.source?.close();
    this.source = null;
    this.listeners.clear();
  }

  /** Waiting first by priority then age; then the claimed ones. */
  sorted() {
    const rank = e => (e.status === "waiting" ? 0 : 1);
    return [...this.items.values()].sort((a, b) =>
      rank(a) - rank(b) || Number(b.priority) - Number(a.priority) ||
      a.created_at.localeCompare(b.created_at) || a.id - b.id);
  }

  waitingCount() {
    let count = 0;
    for (const e of this.items.values()) if (e.status === "waiting") count += 1;
    return count;
  }

  /** Caller and transcript of one escalation (an audited read; once per escalation). */
  detail(id) {
    if (!this.details.has(id)) {
      const pending = api(`/escalations/${id}`).catch(error => {
        this.details.delete(id);
        throw error;
      });
      this.details.set(id, pending);
    }
    return this.details.get(id);
  }
}

function callerBlock(detail) {
  if (!detail) return h("p", {class: "muted"}, "Chargement du contexte…");
  const caller = detail.caller;
  if (!caller) {
    return h("p", {class: "caller unknown"},
      h("strong", {}, "Appelant non identifié"),
      " — identité non vérifiée par le serveur vocal.");
  }
  const identity = fmt.identityState(caller);
  return h("div", {class: "caller"},
    h("strong", {class: "caller-name"}, `${caller.last_name.toUpperCase()} ${caller.first_name}`),
    h("span", {class: `badge ${identity.tone}`}, identity.label),
    h("dl", {class: "facts inline"},
      h("div", {}, h("dt", {}, "Né(e) le"), h("dd", {}, fmt.birthDate(caller.birth_date))),
      h("div", {}, h("dt", {}, "Téléphone"), h("dd", {}, fmt.phone(caller.phone))),
      h("div", {}, h("dt", {}, "Code patient"), h("dd", {}, caller.code))));
}

function lineBadge(escalation) {
  if (escalation.caller_line === "hung_up") {
    return h("span", {class: "badge warn line-state"}, "A raccroché");
  }
  if (escalation.caller_line === "answered") {
    return h("span", {class: "badge ok line-state"}, "Pris au téléphone");
  }
  return h("span", {class: "badge line-state"}, "En ligne");
}

function voicemailBlock(escalation, session) {
  if (!escalation.voicemail_object_id) return null;
  return h("p", {class: "voicemail-left"}, "Message vocal laissé après le transfert — ",
    h("button", {type: "button", class: "link", onclick: () => session.go("messagerie")},
      "ouvrir la messagerie"));
}

/** The number to call back (revealed on a click, audited) and the call-back task. */
function callbackBlock(escalation, detail, feed, mayAct, session, practice) {
  const number = feed.numbers.get(escalation.id);
  const numberPart = h("div", {class: "callback-number"});
  if (number) {
    fill(numberPart, h("span", {class: "muted"}, "Numéro à rappeler : "),
      h("a", {href: `tel:${number}`, class: "phone"}, fmt.phone(number)));
  } else if (escalation.caller_number_known) {
    const reveal = h("button", {type: "button", class: "secondary",
                                dataset: {focus: `number-${escalation.id}`}},
      "Afficher le numéro à rappeler");
    reveal.addEventListener("click", () => busy(reveal, async () => {
      try {
        const found = await api(`/escalations/${escalation.id}/caller-number`);
        feed.numbers.set(escalation.id, found.number || "");
        feed.emit();
      } catch (error) {
        toast(error.message, "error");
      }
    }));
    fill(numberPart, reveal);
  } else if (detail?.caller?.phone) {
    fill(numberPart, h("span", {class: "muted"}, "Numéro du dossier : "),
      h("a", {href: `tel:${detail.caller.phone}`}, fmt.phone(detail.caller.phone)));
  } else {
    fill(numberPart, h("span", {class: "muted"}, "Numéro masqué : aucun numéro pour rappeler."));
  }
  const tries = (escalation.callbacks || []).map(c =>
    h("li", {}, `${fmt.time(c.at)} — ${fmt.callbackLabel(c.outcome)} (${c.by})`));
  const task = h("div", {class: "callback-task"});
  if (mayAct && escalation.caller_line === "hung_up") {
    const outcome = h("select", {"aria-label": "Résultat du rappel",
                                 dataset: {focus: `cb-${escalation.id}`}},
      CALLBACK_OUTCOMES.map(([code, label]) => h("option", {value: code}, label)));
    const save = h("button", {type: "button", class: "primary",
                              dataset: {focus: `cb-save-${escalation.id}`}}, "Noter le rappel");
    save.addEventListener("click", () => busy(save, async () => {
      try {
        const done = await api(`/escalations/${escalation.id}/callbacks`,
                               {method: "POST", body: {outcome: outcome.value}});
        feed.change(done.status === "resolved" ? "resolved" : "claimed", done);
        toast(done.status === "resolved" ? "Rappel noté : appel terminé." : "Rappel noté.", "ok");
      } catch (error) {
        toast(error.status === 409 ? "Une collègue s'occupe déjà de cet appel." : error.message, "error");
      }
    }));
    fill(task, h("span", {class: "task-label"}, "Rappeler"), outcome, save);
    const dialled = number || detail?.caller?.phone;
    if (dialled && practice && session.phone?.canDial(practice.slug)) {
      // through the practice's line, its number shown to the patient; the outcome is noted
      task.append(h("button", {type: "button", class: "secondary dial",
                               dataset: {focus: `dial-${escalation.id}`},
                               onclick: () => session.phone.dial(dialled, practice.slug, escalation.id)},
        "Appeler depuis la console"));
    }
  }
  return h("section", {class: "callback", "aria-label": "Rappel"},
    numberPart, task, tries.length ? h("ul", {class: "callback-tries"}, tries) : null);
}

function transcriptBlock(detail) {
  if (!detail) return null;
  if (!detail.transcript) return h("p", {class: "muted small"}, "Pas de transcription pour cet appel.");
  return h("figure", {class: "transcript"},
    h("figcaption", {}, "Ce que l'appelant a dit"),
    h("blockquote", {}, detail.transcript));
}

function card(escalation, detail, session, feed, isNew) {
  const me = session.me.login;
  const practice = session.practiceById.get(escalation.practice_id);
  const mine = escalation.status === "claimed" && escalation.claimed_by === me;
  const actions = h("div", {class: "actions"});
  if (escalation.status === "waiting") {
    const claim = h("button", {type: "button", class: "primary",
                               dataset: {focus: `claim-${escalation.id}`}}, "Prendre l'appel");
    claim.addEventListener("click", () => busy(claim, async () => {
      try {
        const done = await api(`/escalations/${escalation.id}/claim`, {method: "POST"});
        feed.change("claimed", done);
        toast("Appel pris en charge.", "ok");
      } catch (error) {
        toast(error.status === 409 ? "Une collègue a déjà pris cet appel." : error.message, "error");
      }
    }));
    actions.append(claim);
  } else if (mine) {
    const choice = h("select", {"aria-label": "Issue de l'appel",
                                dataset: {focus: `res-${escalation.id}`}},
      RESOLUTIONS.map(([code, label]) => h("option", {value: code}, label)));
    const resolve = h("button", {type: "button", class: "primary",
                                 dataset: {focus: `resolve-${escalation.id}`}}, "Terminer");
    resolve.addEventListener("click", () => busy(resolve, async () => {
      try {
        const done = await api(`/escalations/${escalation.id}/resolve`,
                               {method: "POST", body: {resolution: choice.value}});
        feed.change("resolved", done);
        toast("Appel terminé.", "ok");
      } catch (error) {
        toast(error.message, "error");
      }
    }));
    actions.append(choice, resolve);
    if (detail?.caller) {
      actions.append(h("button", {type: "button", class: "secondary",
        onclick: () => session.go("rdv", {practiceId: escalation.practice_id,
                                          patient: {...detail.caller, id: detail.caller.patient_id,
                                                    practice_id: escalation.practice_id}})},
        "Prendre un RDV pour ce patient"));
    }
  } else {
    actions.append(h("span", {class: "muted"}, `Pris par ${escalation.claimed_by}`));
  }
  const mayAct = escalation.status === "waiting" || mine;
  const classes = ["call-card", escalation.priority ? "urgent" : "", mine ? "mine" : "",
                   isNew ? "arrived" : "", escalation.status,
                   escalation.caller_line === "hung_up" ? "gone" : ""].filter(Boolean).join(" ");
  return h("article", {class: classes, "data-escalation": escalation.id,
                       "aria-labelledby": `esc-${escalation.id}`},
    h("header", {class: "call-head"},
      escalation.priority ? h("span", {class: "badge urgent"}, "Urgent") : null,
      h("h3", {id: `esc-${escalation.id}`}, fmt.intentLabel(escalation.intent)),
      h("span", {class: `badge status-${escalation.status}`},
        mine ? "Avec vous" : fmt.statusLabel(escalation.status)),
      lineBadge(escalation),
      h("span", {class: "muted when", title: fmt.dateTime(escalation.created_at, practice?.timezone)},
        `${practice ? practice.name + " · " : ""}${fmt.since(escalation.created_at)}`)),
    escalation.reason ? h("p", {class: "reason"}, "Transfert : ", fmt.reasonLabel(escalation.reason)) : null,
    callerBlock(detail), transcriptBlock(detail), voicemailBlock(escalation, session),
    callbackBlock(escalation, detail, feed, mayAct, session, practice), actions);
}

/** The queue section. */
export function queueView(place, session) {
  const feed = session.feed;
  const status = h("span", {class: "live-state"});
  const list = h("div", {class: "call-list", "aria-live": "off"});
  fill(place,
    h("div", {class: "view-head"},
      h("h1", {}, "File d'attente"), status),
    h("p", {class: "muted"}, "Les appels transférés par le serveur vocal apparaissent ici en direct, avec leur contexte."),
    list);
  const loaded = new Map();
  const seen = new Set(feed.sorted().map(e => e.id)); // on screen already: no arrival effect

  function draw() {
    const focusKey = document.activeElement?.dataset?.focus;
    status.textContent = feed.state === "live" ? "En direct" : "Reconnexion…";
    status.className = `live-state ${feed.state}`;
    const items = feed.sorted();
    if (!items.length) {
      fill(list, h("div", {class: "empty"},
        h("p", {}, "Aucun appel en attente."),
        h("p", {class: "muted small"}, "Les nouveaux appels s'afficheront automatiquement.")));
    } else {
      fill(list, items.map(e => card(e, loaded.get(e.id), session, feed, !seen.has(e.id))));
      for (const e of items) seen.add(e.id);
    }
    for (const e of items) {
      if (!loaded.has(e.id)) {
        feed.detail(e.id).then(detail => { loaded.set(e.id, detail); draw(); },
                               () => loaded.set(e.id, {caller: null, transcript: null}));
      }
    }
    if (focusKey) place.querySelector(`[data-focus="${focusKey}"]`)?.focus();
  }

  const unsubscribe = feed.subscribe(draw);
  const ticker = setInterval(draw, 30000);
  draw();
  return () => { unsubscribe(); clearInterval(ticker); };
}
