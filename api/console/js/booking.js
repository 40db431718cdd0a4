// Booking on behalf of a patient: find the patient, find a slot, confirm.

import {api, idempotencyKey} from "./api.js";
import {h, fill, field, busy, toast, showError, announce} from "./dom.js";
import * as fmt from "./format.js";
import {practicePicker} from "./agenda.js";

const CRITERIA = [
  ["name", "Nom"],
  ["birth_date", "Date de naissance"],
  ["phone", "Téléphone"],
  ["code", "Code patient"],
];

function patientLine(p) {
  return `${p.last_name.toUpperCase()} ${p.first_name} · né(e) le ${fmt.birthDate(p.birth_date)}`;
}

export function bookingView(place, session, handoff) {
  let practice = session.practiceById.get(handoff?.practiceId) || session.practices[0];
  if (!practice) {
    fill(place, h("h1", {}, "Prendre un RDV"), h("p", {class: "muted"}, "Aucun cabinet ne vous est attribué."));
    return;
  }
  let patient = handoff?.patient || null;
  let chosen = null;      // the slot picked
  let key = null;         // its idempotency key (a retry books once)

  const patientPanel = h("section", {class: "panel", "aria-labelledby": "step-patient"});
  const slotPanel = h("section", {class: "panel", "aria-labelledby": "step-slot"});
  const confirmPanel = h("section", {class: "panel", "aria-labelledby": "step-confirm"});

  // 1. the patient ---------------------------------------------------------------
  function drawPatient() {
    if (patient) {
      fill(patientPanel, h("h2", {id: "step-patient"}, "1. Patient"),
        h("div", {class: "chosen"},
          h("strong", {}, patientLine(patient)),
          h("span", {class: "muted"}, ` · tél. ${fmt.phone(patient.phone)} · code ${patient.code}`),
          patient.phone && session.phone?.canDial(practice.slug)
            ? h("button", {type: "button", class: "secondary dial",
                           onclick: () => session.phone.dial(patient.phone, practice.slug, null)},
              "Appeler depuis la console")
            : null,
          h("button", {type: "button", class: "link", onclick: () => { patient = null; drawAll(); }},
            "Changer de patient")));
      return;
    }
    const criterion = h("select", {"aria-label": "Rechercher par"},
      CRITERIA.map(([code, label]) => h("option", {value: code}, label)));
    const inputs = h("div", {class: "inline-fields"});
    const results = h("div", {class: "results"});
    const errors = h("div");
    let lastName, firstName, birth, phoneInput, code;
    function drawInputs() {
      lastName = h("input", {autocomplete: "off", required: true});
      firstName = h("input", {autocomplete: "off"});
      birth = h("input", {type: "date", required: true});
      phoneInput = h("input", {type: "tel", autocomplete: "off", required: true, placeholder: "06 12 34 56 78"});
      code = h("input", {inputmode: "numeric", pattern: "\\d{6}", required: true, autocomplete: "off"});
      const by = criterion.value;
      fill(inputs,
        by === "name" ? [field("Nom", lastName), field("Prénom (facultatif)", firstName)] : null,
        by === "birth_date" ? field("Date de naissance", birth) : null,
        by === "phone" ? field("Téléphone", phoneInput) : null,
        by === "code" ? field("Code patient", code) : null);
      inputs.querySelector("input").focus();
    }
    criterion.addEventListener("change", drawInputs);
    const search = h("button", {type: "submit", class: "primary"}, "Rechercher");
    const form = h("form", {class: "search-form"},
      field("Rechercher par", criterion), inputs, h("div", {class: "form-end"}, search));
    form.addEventListener("submit", async event => {
      event.preventDefault();
      showError(errors, null);
      const by = criterion.value;
      const query = by === "name" ? {last_name: lastName.value.trim(), first_name: firstName.value.trim()}
        : by === "birth_date" ? {birth_date: birth.value}
          : by === "phone" ? {phone: phoneInput.value.trim()} : {code: code.value.trim()};
      let found;
      try {
        found = await busy(search, () => api(`/practices/${practice.slug}/patients`, {query}));
      } catch (error) {
        showError(errors, error);
        return;
      }
      announce(`${found.length} patient(s) trouvé(s)`);
      const create = h("button", {type: "button", class: "secondary",
        onclick: () => newPatientForm(results, by === "name" ? lastName.value.trim() : "",
                                      by === "name" ? firstName.value.trim() : "",
                                      by === "birth_date" ? birth.value : "",
                                      by === "phone" ? phoneInput.value.trim() : "")},
        "Créer une fiche patient");
      if (!found.length) {
        fill(results, h("div", {class: "empty"}, h("p", {}, "Aucun patient trouvé."), create));
        return;
      }
      fill(results, h("table", {class: "grid"},
        h("thead", {}, h("tr", {}, ["Nom", "Prénom", "Né(e) le", "Téléphone", "Code", ""].map(
          t => h("th", {scope: "col"}, t)))),
        h("tbody", {}, found.map(p => h("tr", {},
          h("td", {}, h("strong", {}, p.last_name.toUpperCase())), h("td", {}, p.first_name),
          h("td", {}, fmt.birthDate(p.birth_date)), h("td", {}, fmt.phone(p.phone)),
          h("td", {}, p.code),
          h("td", {}, h("button", {type: "button", class: "primary small",
                                   onclick: () => { patient = p; drawAll(); }}, "Choisir")))))),
        h("p", {class: "small"}, "Pas dans la liste ? ", create));
      results.querySelector("button.primary")?.focus();
    });
    fill(patientPanel, h("h2", {id: "step-patient"}, "1. Patient"), form, errors, results);
    drawInputs();
  }

  function newPatientForm(place2, last, first, born, tel) {
    const lastName = h("input", {required: true, value: last, autocomplete: "off"});
    const firstName = h("input", {required: true, value: first, autocomplete: "off"});
    const birth = h("input", {type: "date", required: true, value: born});
    const tel2 = h("input", {type: "tel", value: tel, autocomplete: "off"});
    const errors = h("div");
    const save = h("button", {type: "submit", class: "primary"}, "Créer et choisir");
    const form = h("form", {class: "sub-form"},
      h("h3", {}, "Nouvelle fiche patient"),
      h("div", {class: "inline-fields"}, field("Nom", lastName), field("Prénom", firstName),
        field("Date de naissance", birth), field("Téléphone (facultatif)", tel2)),
      errors, h("div", {class: "form-end"}, save));
    form.addEventListener("submit", async event => {
      event.preventDefault();
      try {
        patient = await busy(save, () => api(`/practices/${practice.slug}/patients`, {method: "POST", body: {
          last_name: lastName.value.trim(), first_name: firstName.value.trim(),
          birth_date: birth.value, phone: tel2.value.trim() || null}}));
      } catch (error) {
        showError(errors, error);
        return;
      }
      toast("Fiche patient créée.", "ok");
      drawAll();
    });
    fill(place2, form);
    lastName.focus();
  }

  // 2. the slot ------------------------------------------------------------------
  async function drawSlots() {
    if (!patient) {
      fill(slotPanel, h("h2", {id: "step-slot", class: "disabled"}, "2. Créneau"),
        h("p", {class: "muted"}, "Choisissez d'abord le patient."));
      return;
    }
    const detail = await session.practiceDetail(practice.slug);
    const kind = h("select", {required: true},
      detail.visit_types.map(v => h("option", {value: v.code}, `${v.label} (${v.duration_minutes} min)`)));
    const who = h("select", {}, h("option", {value: ""}, "Indifférent"),
      detail.practitioners.filter(p => p.active).map(p => h("option", {value: p.id}, p.name)));
    const day = h("input", {type: "date", min: fmt.todayIso(practice.timezone)});
    const part = h("select", {}, h("option", {value: ""}, "Indifférent"),
      h("option", {value: "morning"}, "Matin"), h("option", {value: "afternoon"}, "Après-midi"));
    const slots = h("div", {class: "slots"});
    const errors = h("div");
    const find = h("button", {type: "submit", class: "primary"}, "Chercher des créneaux");
    const form = h("form", {class: "search-form"},
      h("div", {class: "inline-fields"}, field("Motif", kind), field("Praticien", who),
        field("Jour (facultatif)", day), field("Moment", part)),
      h("div", {class: "form-end"}, find));
    form.addEventListener("submit", async event => {
      event.preventDefault();
      showError(errors, null);
      chosen = null;
      drawConfirm();
      let found;
      try {
        found = await busy(find, () => api(`/practices/${practice.slug}/slots`, {query: {
          visit_type: kind.value, practitioner_id: who.value, day: day.value,
          part_of_day: part.value, limit: 12}}));
      } catch (error) {
        showError(errors, error);
        return;
      }
      if (!found.length) {
        fill(slots, h("p", {class: "empty"}, "Aucun créneau libre avec ces critères."));
        return;
      }
      announce(`${found.length} créneaux proposés`);
      fill(slots, found.map(slot => {
        const label = kindLabel(detail, slot.visit_type_code);
        const button = h("button", {type: "button", class: "slot", "aria-pressed": "false"},
          h("span", {class: "slot-day"}, fmt.date(slot.starts_at, slot.timezone)),
          h("span", {class: "slot-time"}, fmt.time(slot.starts_at, slot.timezone)),
          h("span", {class: "slot-who"}, slot.practitioner_name));
        button.addEventListener("click", () => {
          for (const other of slots.querySelectorAll(".slot")) other.setAttribute("aria-pressed", "false");
          button.setAttribute("aria-pressed", "true");
          chosen = {...slot, label};
          key = idempotencyKey();
          drawConfirm();
          confirmPanel.querySelector("button.primary")?.focus();
        });
        return button;
      }));
    });
    fill(slotPanel, h("h2", {id: "step-slot"}, "2. Créneau"), form, errors, slots);
  }

  function kindLabel(detail, code) {
    return detail.visit_types.find(v => v.code === code)?.label || code;
  }

  // 3. confirmation ---------------------------------------------------------------
  function drawConfirm() {
    if (!patient || !chosen) {
      fill(confirmPanel, h("h2", {id: "step-confirm", class: "disabled"}, "3. Confirmation"),
        h("p", {class: "muted"}, "Choisissez un créneau."));
      return;
    }
    const errors = h("div");
    const book = h("button", {type: "button", class: "primary"}, "Confirmer le rendez-vous");
    book.addEventListener("click", async () => {
      let done;
      try {
        done = await busy(book, () => api(`/practices/${practice.slug}/appointments`, {method: "POST", body: {
          patient_id: patient.id, practitioner_id: chosen.practitioner_id,
          visit_type: chosen.visit_type_code, starts_at: chosen.starts_at, idempotency_key: key}}));
      } catch (error) {
        showError(errors, error);
        return;
      }
      toast("Rendez-vous confirmé.", "ok");
      announce("Rendez-vous confirmé");
      fill(confirmPanel, h("h2", {id: "step-confirm"}, "3. Confirmation"),
        h("div", {class: "success", role: "status"},
          h("strong", {}, "Rendez-vous confirmé"),
          h("p", {}, `${fmt.date(done.starts_at, done.timezone)} à ${fmt.time(done.starts_at, done.timezone)} · ${done.visit_type_label} · ${done.practitioner_name}`),
          h("p", {}, patientLine(patient))),
        h("button", {type: "button", class: "secondary",
                     onclick: () => { patient = null; chosen = null; drawAll(); }}, "Nouveau rendez-vous"));
    });
    fill(confirmPanel, h("h2", {id: "step-confirm"}, "3. Confirmation"),
      h("dl", {class: "summary"},
        h("dt", {}, "Patient"), h("dd", {}, patientLine(patient)),
        h("dt", {}, "Quand"), h("dd", {}, `${fmt.date(chosen.starts_at, chosen.timezone)} à ${fmt.time(chosen.starts_at, chosen.timezone)}`),
        h("dt", {}, "Motif"), h("dd", {}, chosen.label),
        h("dt", {}, "Praticien"), h("dd", {}, chosen.practitioner_name)),
      errors, book);
  }

  function drawAll() {
    chosen = null;
    drawPatient();
    drawSlots().catch(error => showError(slotPanel, error));
    drawConfirm();
  }

  const picker = practicePicker(session, id => {
    practice = session.practiceById.get(id);
    patient = null;
    drawAll();
  }, practice.id);
  // a call just answered from a caller the engine did not identify: what they asked
  const asked = handoff?.asked
    ? h("aside", {class: "panel asked", "aria-label": "Demande de l'appelant"},
      h("p", {}, h("strong", {}, "Appel en cours — appelant non identifié. "),
        `Demande : ${fmt.intentLabel(handoff.asked.intent)}`),
      handoff.asked.transcript ? h("blockquote", {}, handoff.asked.transcript) : null)
    : null;
  fill(place, h("div", {class: "view-head"}, h("h1", {}, "Prendre un rendez-vous")),
    asked, picker ? h("div", {class: "toolbar"}, picker) : null,
    h("div", {class: "steps"}, patientPanel, slotPanel, confirmPanel));
  drawAll();
}
