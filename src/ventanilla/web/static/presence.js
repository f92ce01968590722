// "Disponible / Ausente" in the header of every page: whether the assigner may hand this person new conversations.
// The server believes ONLINE only while it is confirmed (about every 45 s, while a page is open and visible and
// the person did not choose "Ausente"); a closed tab or a sleeping laptop lapses to AWAY by itself. Ten minutes
// without input says AWAY at once. The choice is remembered in this browser and shared by its tabs.
"use strict";

(() => {
  const CONFIRM_MS = 45 * 1000;
  const IDLE_MS = 10 * 60 * 1000;
  const TICK_MS = 15 * 1000;
  const CHOICE_KEY = "ventanilla-disponible"; // "no" once the person chose Ausente
  const URL = "/api/me/availability";
  let lastInput = Date.now();
  let sent = { status: null, at: 0 };
  let radios = {};

  const chosen = () => (localStorage.getItem(CHOICE_KEY) === "no" ? "AWAY" : "ONLINE");
  const idle = () => Date.now() - lastInput > IDLE_MS;

  async function send(status) {
    sent = { status, at: Date.now() };
    try {
      await V.api("PUT", URL, { status });
    } catch {
      sent = { status: null, at: 0 }; // try again at the next tick
    }
  }

  function show(status, why) {
    if (radios[status]) radios[status].checked = true;
    const hint = document.getElementById("presence-hint");
    if (hint) hint.textContent = why;
  }

  function tick() {
    if (chosen() === "AWAY") {
      show("AWAY", "Elegiste «Ausente»: no recibes conversaciones nuevas.");
      if (sent.status !== "AWAY") send("AWAY");
      return;
    }
    if (idle()) {
      show("AWAY", "Ausente por inactividad: vuelve a usar la página para recibir conversaciones.");
      if (sent.status !== "AWAY") send("AWAY");
      return;
    }
    show("ONLINE", "Disponible: te pueden asignar conversaciones.");
    if (document.hidden) return; // not confirmed: lapses to AWAY on the server after about two minutes
    if (sent.status !== "ONLINE" || Date.now() - sent.at >= CONFIRM_MS) send("ONLINE");
  }

  function colours(fieldset) {
    // The shared "segmented" control, with the header's colours swapped so the chosen state shows on the bar.
    const root = getComputedStyle(document.documentElement);
    fieldset.style.setProperty("--brand", root.getPropertyValue("--brand-ink").trim() || "#fff");
    fieldset.style.setProperty("--brand-ink", root.getPropertyValue("--brand").trim() || "#000");
    fieldset.style.margin = "0";
  }

  function build(anchor) {
    const fieldset = V.el("fieldset", { className: "segmented presence", "aria-describedby": "presence-hint" },
      V.el("legend", { className: "visually-hidden", text: "Mi disponibilidad" }));
    for (const [status, label] of [["ONLINE", "Disponible"], ["AWAY", "Ausente"]]) {
      const id = `presence-${status.toLowerCase()}`;
      const radio = V.el("input", { type: "radio", name: "presence", id, value: status });
      radio.addEventListener("change", () => {
        if (!radio.checked) return;
        lastInput = Date.now();
        localStorage.setItem(CHOICE_KEY, status === "ONLINE" ? "si" : "no");
        sent = { status: null, at: 0 };
        tick();
        V.announce(status === "ONLINE" ? "Disponible" : "Ausente");
      });
      radios[status] = radio;
      fieldset.append(radio, V.el("label", { for: id, text: label }));
    }
    fieldset.append(V.el("span", { id: "presence-hint", className: "visually-hidden" }));
    colours(fieldset);
    anchor.parentNode.insertBefore(fieldset, anchor);
  }

  document.addEventListener("DOMContentLoaded", () => {
    const anchor = document.querySelector("header.top .logout");
    if (!anchor) return; // not logged in
    build(anchor);
    for (const type of ["keydown", "pointerdown", "pointermove", "wheel", "touchstart", "focus"]) {
      window.addEventListener(type, () => {
        const wasIdle = idle();
        lastInput = Date.now();
        if (wasIdle) tick();
      }, { passive: true, capture: true });
    }
    document.addEventListener("visibilitychange", tick);
    window.addEventListener("storage", (event) => {
      if (event.key === CHOICE_KEY) {
        sent = { status: null, at: 0 };
        tick();
      }
    });
    window.setInterval(tick, TICK_MS);
    tick();
  });
})();
