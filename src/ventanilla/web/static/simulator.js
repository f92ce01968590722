// The simulator panel (only served with WHATSAPP_TRANSPORT=simulator): scan the QR as the branch's phone, write
// as a customer, and read what customers received, so the whole flow can be tried from the pages alone.
"use strict";

(() => {
  const panel = document.getElementById("simulator");
  if (!panel) return;
  const base = `/api/service-points/${panel.dataset.point}/simulator`;
  const status = document.getElementById("sim-status");

  async function showSent() {
    let sent;
    try {
      sent = await V.api("GET", `${base}/sent`);
    } catch {
      return;
    }
    const list = document.getElementById("sim-sent");
    list.replaceChildren(...sent.slice(-10).map((item) =>
      V.el("li", {}, V.el("strong", { text: `Para ${item.to}: ` }), item.text)));
    if (!sent.length) list.append(V.el("li", { className: "muted", text: "Nada todavía." }));
  }

  document.getElementById("sim-scan").addEventListener("click", async () => {
    V.setStatus(status, "Escaneando…");
    try {
      await V.api("POST", `${base}/scan`);
      V.setStatus(status, "El teléfono simulado escaneó el código.");
    } catch (error) {
      V.setStatus(status, error.status === 409 ? "No hay un código QR pendiente: pulsa «Vincular WhatsApp»." : error.message, true);
    }
  });

  document.getElementById("sim-inbound").addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = document.getElementById("sim-text");
    const from = document.getElementById("sim-from");
    try {
      await V.api("POST", `${base}/inbound`, { from: from.value.trim(), text: text.value });
      V.setStatus(status, "Mensaje enviado como cliente.");
      text.value = "";
    } catch (error) {
      V.setStatus(status, error.status === 409 ? "La sucursal no está conectada: vincúlala primero." : error.message, true);
    }
  });

  showSent();
  window.setInterval(() => { if (!document.hidden) showSent(); }, 3000);
})();
