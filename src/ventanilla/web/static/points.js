// The branch list keeps each WhatsApp badge current by asking for all statuses every few seconds: one request
// for every branch, where one event stream per branch would exhaust the browser's connections to the server.
"use strict";

(() => {
  const EVERY_MS = 3000;

  async function refresh() {
    let rows;
    try {
      rows = await V.api("GET", "/api/whatsapp/status");
    } catch {
      return;
    }
    for (const row of rows) {
      const badge = document.querySelector(`tr[data-point="${CSS.escape(row.servicePointId)}"] .badge`);
      if (badge && badge.dataset.status !== row.status) {
        badge.dataset.status = row.status;
        badge.textContent = V.WHATSAPP[row.status] || row.status;
      }
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    if (!document.getElementById("points")) return;
    window.setInterval(() => { if (!document.hidden) refresh(); }, EVERY_MS);
    document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
  });
})();
