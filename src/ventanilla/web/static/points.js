// The branch list keeps each WhatsApp badge and each count of waiting customers current by asking every few
// seconds: two requests for every branch, where one event stream per branch would exhaust the browser's
// connections to the server.
"use strict";

(() => {
  const EVERY_MS = 3000;

  function row(pointId) {
    return document.querySelector(`tr[data-point="${CSS.escape(pointId)}"]`);
  }

  function showWaiting(link, count) {
    if (!link || link.dataset.count === String(count)) return;
    link.dataset.count = String(count);
    link.toggleAttribute("data-waiting", count > 0);
    link.textContent = count ? `${count} esperando` : "Nadie esperando";
  }

  async function refresh() {
    let statuses;
    let points;
    try {
      [statuses, points] = await Promise.all([V.api("GET", "/api/whatsapp/status"), V.api("GET", "/api/service-points")]);
    } catch {
      return;
    }
    for (const status of statuses) {
      const badge = row(status.servicePointId)?.querySelector(".badge[data-status]");
      if (badge && badge.dataset.status !== status.status) {
        badge.dataset.status = status.status;
        badge.textContent = V.WHATSAPP[status.status] || status.status;
      }
    }
    for (const point of points) showWaiting(row(point.id)?.querySelector(".waiting-count"), point.waitingCount);
  }

  document.addEventListener("DOMContentLoaded", () => {
    if (!document.getElementById("points")) return;
    window.setInterval(() => { if (!document.hidden) refresh(); }, EVERY_MS);
    document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
  });
})();
