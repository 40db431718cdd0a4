// Voicemail inbox: the list (no health data), a message with its player and transcript.
// The audio element streams the decrypted WAV from the API (Range requests); it only
// starts fetching when played, so each audited playback is a real one.

import {api} from "./api.js";
import {h, fill, busy, toast, showError} from "./dom.js";
import * as fmt from "./format.js";
import {patientReveal} from "./agenda.js";

const FILTERS = [["false", "À traiter"], ["true", "Traités"], ["", "Tous"]];

export function voicemailView(place, session) {
  let filter = "false";
  let messages = [];
  let selected = null;
  const patients = new Map();
  const transcripts = new Map();
  const zone = session.practices[0]?.timezone;
  const list = h("ul", {class: "inbox", "aria-label": "Messages"});
  const detail = h("section", {class: "message panel", "aria-live": "polite"});
  const errors = h("div");
  const filters = h("div", {class: "segmented", role: "group", "aria-label": "Filtrer"},
    FILTERS.map(([value, label]) => {
      const button = h("button", {type: "button", "aria-pressed": String(value === filter)}, label);
      button.addEventListener("click", () => {
        filter = value;
        for (const b of filters.children) b.setAttribute("aria-pressed", String(b === button));
        load();
      });
      return button;
    }));

  function boxLabel(m) {
    if (m.practitioner_id === null) return "Boîte du cabinet";
    return m.practitioner_id === session.me.practitioner_id ? "Personnel" : "Praticien";
  }

  function drawList() {
    if (!messages.length) {
      fill(list, h("li", {class: "empty"}, filter === "false" ? "Aucun message à traiter." : "Aucun message."));
      return;
    }
    fill(list, messages.map((m, index) => h("li", {},
      h("button", {type: "button", class: `inbox-item${m.handled_at ? "" : " unread"}`,
                   "aria-current": selected?.id === m.id ? "true" : null,
                   dataset: {index: String(index), message: m.id},
                   onclick: () => open(m)},
        h("span", {class: "inbox-when"}, fmt.dateTime(m.created_at, zone)),
        h("span", {class: "inbox-meta"},
          h("span", {}, fmt.duration(m.duration_seconds)),
          h("span", {class: "tag"}, boxLabel(m)),
          m.has_transcript ? h("span", {class: "tag"}, "Transcrit") : null,
          m.patient_id ? h("span", {class: "tag ok"}, "Patient identifié") : null,
          m.truncated ? h("span", {class: "tag warn"}, "Incomplet") : null,
          m.handled_at ? h("span", {class: "tag"}, "Traité") : null)))));
  }

  list.addEventListener("keydown", event => {
    if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
    const current = document.activeElement?.dataset?.index;
    if (current === undefined) return;
    event.preventDefault();
    const next = Number(current) + (event.key === "ArrowDown" ? 1 : -1);
    list.querySelector(`[data-index="${next}"]`)?.focus();
  });

  async function open(message) {
    selected = message;
    drawList();
    const audio = h("audio", {controls: true, preload: "none",
                              src: `/voicemail/${message.id}/audio`,
                              "aria-label": "Lecture du message"});
    const transcript = h("div", {class: "transcript-box"});
    const actions = h("div", {class: "actions"});
    if (!message.handled_at) {
      const handled = h("button", {type: "button", class: "primary"}, "Marquer comme traité");
      handled.addEventListener("click", () => busy(handled, async () => {
        try {
          await api(`/voicemail/${message.id}/handled`, {method: "POST"});
        } catch (error) {
          toast(error.message, "error");
          return;
        }
        toast("Message marqué comme traité.", "ok");
        selected = null;
        fill(detail, h("p", {class: "muted"}, "Choisissez un message dans la liste."));
        load();
      }));
      actions.append(handled);
    } else {
      actions.append(h("p", {class: "muted"}, `Traité le ${fmt.dateTime(message.handled_at, zone)}`));
    }
    fill(detail,
      h("h2", {}, `Message du ${fmt.dateTime(message.created_at, zone)}`),
      h("dl", {class: "facts"},
        h("dt", {}, "Durée"), h("dd", {}, fmt.duration(message.duration_seconds)),
        h("dt", {}, "Boîte"), h("dd", {}, boxLabel(message)),
        h("dt", {}, "Patient"), h("dd", {}, message.patient_id
          ? patientReveal(message.patient_id, patients) : "non identifié")),
      h("div", {class: "player"}, audio),
      h("h3", {}, "Transcription"), transcript, actions);
    if (!message.has_transcript) {
      fill(transcript, h("p", {class: "muted"}, "Pas de transcription pour ce message."));
      return;
    }
    fill(transcript, h("p", {class: "muted"}, "Chargement…"));
    try {
      if (!transcripts.has(message.id)) {
        transcripts.set(message.id, (await api(`/voicemail/${message.id}/transcript`)).text);
      }
      if (selected?.id === message.id) {
        fill(transcript, h("blockquote", {class: "transcript"}, transcripts.get(message.id)));
      }
    } catch (error) {
      showError(transcript, error);
    }
  }

  async function load() {
    showError(errors, null);
    try {
      messages = await api("/voicemail", {query: {handled: filter}});
    } catch (error) {
      showError(errors, error);
      return;
    }
    drawList();
  }

  fill(detail, h("p", {class: "muted"}, "Choisissez un message dans la liste."));
  fill(place,
    h("div", {class: "view-head"}, h("h1", {}, "Messagerie"), filters),
    errors,
    h("div", {class: "inbox-layout"}, h("div", {class: "inbox-col"}, list), detail));
  load();
}
