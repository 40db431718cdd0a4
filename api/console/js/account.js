// My account: who I am, change my password, renew my recovery codes.

import {api} from "./api.js";
import {h, fill, field, busy, toast, showError} from "./dom.js";
import * as fmt from "./format.js";
import {modal} from "./dialog.js";

export function accountView(place, session) {
  const me = session.me;
  const current = h("input", {type: "password", autocomplete: "current-password", required: true});
  const fresh = h("input", {type: "password", autocomplete: "new-password", required: true, minlength: "12"});
  const again = h("input", {type: "password", autocomplete: "new-password", required: true, minlength: "12"});
  const errors = h("div");
  const save = h("button", {type: "submit", class: "primary"}, "Changer le mot de passe");
  const form = h("form", {class: "sub-form"},
    field("Mot de passe actuel", current),
    field("Nouveau mot de passe", fresh, "Au moins 12 caractères."),
    field("Confirmation", again), errors, h("div", {class: "form-end"}, save));
  form.addEventListener("submit", async event => {
    event.preventDefault();
    showError(errors, null);
    if (fresh.value !== again.value) {
      showError(errors, new Error("Les deux saisies ne sont pas identiques."));
      return;
    }
    try {
      await busy(save, () => api("/auth/password", {method: "POST",
        body: {current_password: current.value, new_password: fresh.value}}));
    } catch (error) {
      showError(errors, error);
      return;
    }
    form.reset();
    toast("Mot de passe changé.", "ok");
  });
  const left = h("strong", {}, String(me.recovery_codes_left));
  const renew = h("button", {type: "button", class: "secondary"}, "Générer de nouveaux codes");
  renew.addEventListener("click", () => {
    if (!window.confirm("Les anciens codes de secours cesseront de fonctionner. Continuer ?")) return;
    busy(renew, async () => {
      try {
        const {recovery_codes: codes} = await api("/auth/recovery-codes", {method: "POST"});
        me.recovery_codes_left = codes.length;
        left.textContent = String(codes.length);
        modal("Vos nouveaux codes de secours", h("div", {},
          h("p", {class: "notice warn"}, "Affichés une seule fois : notez-les et rangez-les en lieu sûr."),
          h("ol", {class: "codes"}, codes.map(c => h("li", {}, c)))));
      } catch (error) {
        toast(error.message, "error");
      }
    });
  });
  const places = me.practice_ids.map(id => session.practiceById.get(id)?.name).filter(Boolean);
  fill(place, h("div", {class: "view-head"}, h("h1", {}, "Mon compte")),
    h("div", {class: "two-cols"},
      h("section", {class: "panel"}, h("h2", {}, "Identité"),
        h("dl", {class: "facts"},
          h("dt", {}, "Identifiant"), h("dd", {}, me.login),
          h("dt", {}, "Rôle"), h("dd", {}, fmt.roleLabel(me.role)),
          h("dt", {}, "Cabinets"), h("dd", {}, me.role === "admin" ? "tous" : places.join(", ") || "—")),
        h("h2", {}, "Codes de secours"),
        h("p", {}, "Codes restants : ", left),
        h("p", {class: "muted small"}, "Un code de secours remplace le code de l'application si vous n'avez plus votre téléphone."),
        renew),
      h("section", {class: "panel"}, h("h2", {}, "Mot de passe"), form)));
}
