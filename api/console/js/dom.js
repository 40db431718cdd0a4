// Building the page: elements from data, text only (never HTML from data).

/**
 * h("button", {class: "primary", onclick: fn, type: "button"}, "Prendre")
 * Properties: class, text, dataset, on<event> handlers, anything else as an attribute
 * (false/null/undefined attributes are left out, true gives an empty attribute).
 * Children: nodes, strings, numbers, arrays (flattened); null and false are skipped.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "value" && "value" in el) el.value = value;
    else if (key === "checked" || key === "selected") el[key] = Boolean(value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

/** Replace the content of ``el`` with ``children``. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A labelled form field; returns the wrapper (the input is wrapper.input). */
export function field(label, input, hint) {
  const id = input.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  input.id = id;
  const wrap = h("div", {class: "field"},
    h("label", {for: id}, label), input, hint ? h("small", {class: "hint"}, hint) : null);
  wrap.input = input;
  return wrap;
}

/** Tell screen-reader users something (polite live region). */
export function announce(text) {
  const live = document.getElementById("live");
  live.textContent = "";
  setTimeout(() => { live.textContent = text; }, 30);
}

/** A short message at the bottom of the screen. */
export function toast(text, kind = "info") {
  const box = document.getElementById("toasts");
  const item = h("div", {class: `toast ${kind}`, role: kind === "error" ? "alert" : "status"}, text);
  box.append(item);
  setTimeout(() => item.remove(), kind === "error" ? 8000 : 4000);
}

/** An inline error line, shown in ``place``. */
export function showError(place, error) {
  fill(place, error ? h("p", {class: "error", role: "alert"}, error.message || String(error)) : null);
}

/** Disable a button while ``work`` runs. */
export async function busy(button, work) {
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    return await work();
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}
