// The day's agenda: a secretary's practices, or a doctor's own appointments.
// The list holds patient ids only; a name is shown on demand (an audited read).
// An appointment that the practitioner's own calendar overlaps is flagged, to be moved;
// a practitioner's calendar that does not sync is a warning above the list.

import {api} from "./api.js";
import {h, fill, field, busy, toast, showError} from "./dom.js";
import * as fmt from "./format.js";
import {modal} from "./dialog.js";
import {calendarWarnings} from "./calendars.js";

export function practicePicker(session, onChange, selectedId) {
  if (session.practices.length < 2) return null;
  const select = h("select", {},
    session.practices.map(p => h("option", {value: p.id, selected: p.id === selectedId}, p.name)));
  select.addEventListener("change", () => onChange(Number(select.value)));
  return field("Cabinet", select);
}

/** The patient cell: a button that reveals the patient (audited). The cache holds a
 *  record, or the request still on its way, so a list drawn again meanwhile shows it too. */
export function patientReveal(patientId, cache) {
  const cell = h("span", {class: "patient-cell"});
  const show = record => fill(cell,
    h("strong", {}, `${record.last_name.toUpperCase()} ${record.first_name}`),
    h("span", {class: "muted small"}, ` · ${fmt.birthDate(record.birth_date)}`));
  const button = h("button", {type: "button", class: "link",
                              title: "Afficher l'identité (lecture tracée dans l'audit)"},
    "Afficher le patient");
  const reveal = async pending => {
    try {
      show(await pending);
    } catch (error) {
      fill(cell, button);
      toast(error.message, "error");
    }
  };
  button.addEventListener("click", () => busy(button, async () => {
    const pending = api(`/patients/${patientId}`);
    cache.set(patientId, pending);
    pending.then(record => cache.set(patientId, record), () => cache.delete(patientId));
    await reveal(pending);
  }));
  const known = cache.get(patientId);
  if (known instanceof Promise) {
    fill(cell, h("span", {class: "muted small"}, "…"));
    reveal(known);
  } else if (known) {
    show(known);
  } else {
    fill(cell, button);
  }
  return cell;
}

export function agendaView(place, session) {
  const isSecretary = session.me.role === "secretary";
  let practice = session.practices[0];
  if (!practice) {
    fill(place, h("h1", {}, "Agenda"), h("p", {class: "muted"}, "Aucun cabinet ne vous est attribué."));
    return;
  }
  let day = fmt.todayIso(practice.timezone);
  let practitionerId = "";
  const patients = new Map();
  const dayInput = h("input", {type: "date", value: day, "aria-label": "Jour"});
  const who = h("select", {"aria-label": "Praticien"}, h("option", {value: ""}, "Tous les praticiens"));
  const title = h("h2", {class: "day-title"});
  const table = h("div", {class: "table-wrap"});
  const errors = h("div");
  const warnings = h("div", {class: "calendar-warnings"});

  async function loadPractitioners() {
    if (!isSecretary) return;
    const detail = await session.practiceDetail(practice.slug);
    fill(who, h("option", {value: ""}, "Tous les praticiens"),
      detail.practitioners.filter(p => p.active).map(p => h("option", {value: p.id}, p.name)));
  }

  let latest = 0;  // only the last load draws: an earlier answer arriving late is dropped
  async function load() {
    const mine = ++latest;
    showError(errors, null);
    dayInput.value = day;
    title.textContent = fmt.longDate(day);
    fill(table, h("p", {class: "muted"}, "Chargement…"));
    let rows;
    // the calendars' side is a help: the day's list shows even if it cannot be read
    const conflicts = api(`/practices/${practice.slug}/calendar-conflicts`, {query: {day}})
      .catch(() => []);
    const calendars = api(`/practices/${practice.slug}/calendars`).catch(() => null);
    try {
      rows = await api(`/practices/${practice.slug}/agenda`,
                       {query: {day, practitioner_id: practitionerId}});
    } catch (error) {
      if (mine !== latest) return;
      fill(table);
      showError(errors, error);
      return;
    }
    const flagged = new Map((await conflicts).map(c => [c.appointment_id, c]));
    const state = await calendars;
    if (mine !== latest) return;
    fill(warnings, state ? calendarWarnings(state.practitioners, practice.timezone) : null,
      flagged.size ? h("p", {class: "notice warn", role: "status"},
        `${flagged.size} rendez-vous en conflit avec l'agenda personnel du praticien : à déplacer.`) : null);
    if (!rows.length) {
      fill(table, h("div", {class: "empty"}, h("p", {}, "Aucun rendez-vous ce jour-là.")));
      return;
    }
    fill(table, h("table", {class: "grid"},
      h("thead", {}, h("tr", {},
        h("th", {scope: "col"}, "Heure"), h("th", {scope: "col"}, "Praticien"),
        h("th", {scope: "col"}, "Motif"), h("th", {scope: "col"}, "Patient"),
        h("th", {scope: "col"}, "État"), isSecretary ? h("th", {scope: "col"}, h("span", {class: "visually-hidden"}, "Actions")) : null)),
      h("tbody", {}, rows.map(row => h("tr", {class: row.status === "cancelled" ? "cancelled" : (flagged.has(row.id) ? "conflict" : ""),
                                              dataset: {appointment: row.id}},
        h("td", {class: "time"}, `${fmt.time(row.starts_at, row.timezone)} – ${fmt.time(row.ends_at, row.timezone)}`),
        h("td", {}, row.practitioner_name),
        h("td", {}, row.visit_type_label),
        h("td", {}, patientReveal(row.patient_id, patients)),
        h("td", {}, h("span", {class: `badge status-${row.status}`}, fmt.statusLabel(row.status)),
          flagged.has(row.id) ? conflictBadge(flagged.get(row.id), row) : null),
        isSecretary ? h("td", {}, h("div", {class: "row-actions"},
          flagged.has(row.id) ? moveButton(row) : null, cancelButton(row))) : null)))));
  }

  function conflictBadge(conflict, row) {
    return h("span", {class: "badge danger conflict-flag",
                      title: `Indisponible dans son calendrier de ${fmt.time(conflict.busy_starts_at, row.timezone)} à ${fmt.time(conflict.busy_ends_at, row.timezone)}`},
      "Conflit agenda personnel — à déplacer");
  }

  function moveButton(row) {
    const button = h("button", {type: "button", class: "ghost"}, "Déplacer…");
    button.addEventListener("click", () => moveDialog(row));
    return button;
  }

  async function moveDialog(row) {
    const list = h("div", {class: "slots"}, h("p", {class: "muted"}, "Recherche des créneaux…"));
    const errors2 = h("div");
    const dialog = modal(`Déplacer le rendez-vous de ${fmt.time(row.starts_at, row.timezone)} (${row.practitioner_name})`,
      h("div", {}, h("p", {class: "muted small"}, "Créneaux libres du même praticien pour le même motif :"), errors2, list),
      {closeLabel: "Annuler"});
    let found;
    try {
      found = await api(`/practices/${practice.slug}/slots`, {query: {
        visit_type: row.visit_type_code, practitioner_id: row.practitioner_id, after: row.starts_at, limit: 6}});
    } catch (error) {
      fill(list);
      showError(errors2, error);
      return;
    }
    if (!found.length) {
      fill(list, h("p", {class: "empty"}, "Aucun créneau libre."));
      return;
    }
    fill(list, found.map(slot => {
      const choose = h("button", {type: "button", class: "slot"},
        h("span", {class: "slot-day"}, fmt.date(slot.starts_at, slot.timezone)),
        h("span", {class: "slot-time"}, fmt.time(slot.starts_at, slot.timezone)),
        h("span", {class: "slot-who"}, slot.practitioner_name));
      choose.addEventListener("click", () => busy(choose, async () => {
        try {
          await api(`/appointments/${row.id}/move`, {method: "POST", body: {
            practitioner_id: slot.practitioner_id, starts_at: slot.starts_at,
            idempotency_key: `move-${row.id}-${Date.parse(slot.starts_at)}`}});
        } catch (error) {
          showError(errors2, error);
          return;
        }
        dialog.close();
        toast(`Rendez-vous déplacé au ${fmt.dateTime(slot.starts_at, slot.timezone)}.`, "ok");
        load();
      }));
      return choose;
    }));
  }

  function cancelButton(row) {
    if (row.status !== "booked") return null;
    const button = h("button", {type: "button", class: "ghost danger"}, "Annuler");
    button.addEventListener("click", () => {
      if (!window.confirm(`Annuler le rendez-vous de ${fmt.time(row.starts_at, row.timezone)} (${row.practitioner_name}) ?`)) return;
      busy(button, async () => {
        try {
          await api(`/appointments/${row.id}/cancel`, {method: "POST"});
          toast("Rendez-vous annulé.", "ok");
          load();
        } catch (error) {
          toast(error.message, "error");
        }
      });
    });
    return button;
  }

  const step = days => { day = fmt.shiftDay(day, days); load(); };
  dayInput.addEventListener("change", () => { if (dayInput.value) { day = dayInput.value; load(); } });
  who.addEventListener("change", () => { practitionerId = who.value; load(); });
  const picker = practicePicker(session, id => {
    practice = session.practiceById.get(id);
    practitionerId = "";
    loadPractitioners().then(load);
  }, practice.id);
  fill(place,
    h("div", {class: "view-head"}, h("h1", {}, isSecretary ? "Agenda du jour" : "Mon agenda")),
    h("div", {class: "toolbar"},
      picker,
      h("div", {class: "button-group", role: "group", "aria-label": "Changer de jour"},
        h("button", {type: "button", class: "secondary", onclick: () => step(-1)}, "◀ Veille"),
        h("button", {type: "button", class: "secondary",
                     onclick: () => { day = fmt.todayIso(practice.timezone); load(); }}, "Aujourd'hui"),
        h("button", {type: "button", class: "secondary", onclick: () => step(1)}, "Lendemain ▶")),
      dayInput, isSecretary ? who : null),
    title, errors, warnings, table);
  loadPractitioners().then(load, error => showError(errors, error));
}
