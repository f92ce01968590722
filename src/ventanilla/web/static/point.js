// A branch's WhatsApp: link by QR or pairing code, watch the status change live, restart, relink or unlink.
"use strict";

(() => {
  const section = document.getElementById("whatsapp");
  if (!section) return;
  const pointId = section.dataset.point;
  const base = `/api/service-points/${pointId}/whatsapp`;
  const $ = (id) => document.getElementById(id);
  const buttons = { connect: $("connect"), restart: $("restart"), relink: $("relink"), logout: $("logout") };
  let current = {
    status: section.dataset.status,
    phoneNumber: section.dataset.phone || null,
    qrAvailable: section.dataset.qr === "true",
    lastError: section.dataset.error || null,
  };

  function detail(state) {
    if (state.status === "CONNECTED") {
      return state.phoneNumber ? `WhatsApp vinculado al número ${state.phoneNumber}.` : "WhatsApp vinculado.";
    }
    if (state.status === "CONNECTING") {
      return state.qrAvailable ? "Esperando que escanees el código QR." : "Conectando con WhatsApp…";
    }
    return "Sin vincular: pulsa «Vincular WhatsApp» para mostrar un código QR.";
  }

  function showQr(fresh) {
    const box = $("qr-box");
    const img = $("qr");
    if (fresh || !img.getAttribute("src")) img.src = `${base}/qr?format=svg&t=${Date.now()}`;
    box.hidden = false;
  }

  function hideQr() {
    $("qr-box").hidden = true;
    $("qr").removeAttribute("src");
  }

  function render(state) {
    const previous = current.status;
    current = state;
    const badge = $("wa-badge");
    badge.dataset.status = state.status;
    badge.textContent = V.WHATSAPP[state.status] || state.status;
    $("wa-detail").textContent = detail(state);
    const error = $("wa-error");
    error.hidden = !state.lastError || state.status === "CONNECTED";
    $("wa-error-text").textContent = state.lastError || "";
    if (state.status !== "CONNECTED" && state.qrAvailable) showQr(false);
    else hideQr();
    const connected = state.status === "CONNECTED";
    buttons.connect.hidden = connected || (state.status === "CONNECTING" && state.qrAvailable);
    buttons.relink.hidden = !connected;
    buttons.restart.hidden = state.status === "DISCONNECTED" && !state.lastError;
    buttons.logout.hidden = state.status === "DISCONNECTED";
    $("pairing").hidden = connected;
    if (connected && previous !== "CONNECTED") {
      $("pair-code").hidden = true;
      $("wa-action-status").textContent = "";
    }
  }

  async function refresh() {
    try {
      render(await V.api("GET", base));
    } catch (error) {
      V.setStatus($("wa-action-status"), error.message, true);
    }
  }

  async function act(button, steps, done) {
    if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
    const status = $("wa-action-status");
    button.disabled = true;
    V.setStatus(status, "Un momento…");
    try {
      for (const step of steps) await V.api("POST", `${base}/${step}`);
      V.setStatus(status, done);
    } catch (error) {
      V.setStatus(status, error.message, true);
    } finally {
      button.disabled = false;
    }
  }

  buttons.connect.addEventListener("click", () =>
    act(buttons.connect, ["connect"], "Pedimos un código a WhatsApp; aparecerá aquí en unos segundos."));
  buttons.restart.addEventListener("click", () => act(buttons.restart, ["restart"], "Reiniciando la conexión…"));
  buttons.relink.addEventListener("click", () =>
    act(buttons.relink, ["logout", "connect"], "Teléfono desvinculado; escanea el código nuevo con el otro teléfono."));
  buttons.logout.addEventListener("click", () => act(buttons.logout, ["logout"], "WhatsApp desvinculado."));

  $("qr").addEventListener("error", () => {
    if (current.status !== "CONNECTED") refresh(); // the code expired or was scanned meanwhile
  });

  $("pair-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const status = $("pair-status");
    const output = $("pair-code");
    const phone = $("pair-phone");
    phone.removeAttribute("aria-invalid");
    V.setStatus(status, "Pidiendo el código a WhatsApp…");
    try {
      const answer = await V.api("POST", `${base}/pair-code`, { phoneNumber: phone.value.trim() });
      output.textContent = answer.code;
      output.hidden = false;
      V.setStatus(status, `Escribe este código en el teléfono: ${answer.code}`);
    } catch (error) {
      if (error.status === 400) phone.setAttribute("aria-invalid", "true");
      V.setStatus(status, error.message, true);
    }
  });

  render(current);
  V.live(pointId, {
    "whatsapp.status": (event) => render(event),
    "whatsapp.qr": () => {
      if (current.status !== "CONNECTED") {
        $("wa-action-status").textContent = "";
        current.qrAvailable = true;
        render(current);
        showQr(true);
      }
    },
  }, refresh);
})();
