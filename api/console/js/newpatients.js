// New patients registered by phone, "à confirmer": the secretary checks each record and
// confirms it, or merges it into the known patient it turns out to be. Listing them is an
// audited read (each record shown); the list lives in the page's memory only.

import {api} from "./api.js";
import {h, fill, busy, toast, showError, announce} from "./dom.js";
import * as fmt from "./format.js";
import {practicePicker} from "./agenda.js";

function identity(p) {
  return `${p.last_name.toUpperCase()} ${p.first_name} · né(e) le ${fmt.birthDate(p.birth_date)}`;
}

export function newPatientsView(place, session) {
  let practice = session.practices[0];
  if (!practice) {
    fill(place, h("h1", {}, "Patients à confirmer"),
      h("p", {class: "muted"}, "Aucun cabinet ne vous est attribué."));
    return;
  }
  const list = h("div", {class: "to-confirm", "aria-live": "polite"});

  async function load() {
    fill(list, h("p", {class: "muted"}, "Chargement…"));
    let found;
    try {
      found = await api(`/practices/${practice.slug}/patients/provisional`);
    } catch (error) {
      showError(list, error);
      return;
    }
    if (!found.length) {
      fill(list, h("div", {class: "empty"}, h("p", {}, "Aucun nouveau patient à confirmer.")));
      return;
    }
    fill(list, found.map(card));
    announce(`${found.length} nouveau(x) patient(s) à confirmer`);
  }

  function card(patient) {
    const confirm = h("button", {type: "button", class: "primary"}, "Confirmer le dossier");
    confirm.addEventListener("click", () => busy(confirm, async () => {
      try {
        await api(`/patients/${patient.id}/confirm`, {method: "POST"});
        toast("Dossier confirmé.", "ok");
        load();
      } catch (error) {
        toast(error.message, "error");
      }
    }));
    const matches = patient.possible_matches.map(known => {
      const merge = h("button", {type: "button", class: "secondary"}, "Fusionner avec ce dossier");
      merge.addEventListener("click", () => busy(merge, async () => {
        try {
          await api(`/patients/${patient.id}/merge`,
                    {method: "POST", body: {into_patient_id: known.id}});
          toast("Dossiers fusionnés.", "ok");
          load();
        } catch (error) {
          toast(error.message, "error");
        }
      }));
      return h("li", {}, `${identity(known)} · code ${known.code} · tél. ${fmt.phone(known.phone)} `,
        merge);
    });
    return h("article", {class: "panel", "data-patient": patient.id},
      h("h2", {}, identity(patient)),
      h("dl", {class: "facts inline"},
        h("div", {}, h("dt", {}, "Rappeler au"), h("dd", {}, fmt.phone(patient.phone))),
        h("div", {}, h("dt", {}, "Code patient"), h("dd", {}, patient.code))),
      matches.length
        ? [h("p", {}, "Ce patient est peut-être déjà connu :"), h("ul", {class: "matches"}, matches)]
        : h("p", {class: "muted"}, "Aucun dossier existant ne lui ressemble."),
      h("div", {class: "actions"}, confirm));
  }

  fill(place,
    h("div", {class: "view-head"}, h("h1", {}, "Patients à confirmer")),
    h("p", {class: "muted"},
      "Les nouveaux patients inscrits par le serveur vocal. Vérifiez chaque dossier, puis confirmez-le, ou fusionnez-le avec le dossier existant du patient."),
    practicePicker(session, id => { practice = session.practiceById.get(id); load(); }, practice.id),
    list);
  load();
}
