// The reports page: the period's daily series from /api/reports/daily, drawn with uPlot (vendor/uplot), plus the
// same figures in a table for screen readers. uPlot only sets element styles from script, which the CSP allows.
"use strict";

(() => {
  const section = document.getElementById("charts");
  if (!section || typeof uPlot === "undefined") return;
  const status = document.getElementById("charts-status");
  const COLORS = { bot: "#0b6e4f", person: "#1a5fd0", p90: "#8a5a00", csat: "#7a3ea8" };
  const dayLabel = new Intl.DateTimeFormat("es", { day: "numeric", month: "short", timeZone: "UTC" });
  const longDay = new Intl.DateTimeFormat("es", { dateStyle: "medium", timeZone: "UTC" });
  const number = new Intl.NumberFormat("es", { maximumFractionDigits: 1 });
  const DAY_STEPS = [1, 2, 7, 14, 30, 61, 91].map((days) => days * 86400); // one label per day at most
  const WHOLE_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000]; // counts

  const seconds = (day) => Date.UTC(...day.split("-").map((part, i) => Number(part) - (i === 1 ? 1 : 0))) / 1000;
  const minutes = (value) => (value === null ? null : value / 60);
  const shown = (value, unit = "") => (value === null || value === undefined ? "—" : number.format(value) + unit);

  function options(area, series, yAxis, extra = {}) {
    return {
      width: Math.max(280, area.clientWidth),
      height: 240,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: yAxis.scale || {} },
      axes: [
        { incrs: DAY_STEPS, values: (u, splits) => splits.map((ts) => dayLabel.format(new Date(ts * 1000))) },
        {
          label: yAxis.label,
          ...(yAxis.incrs ? { incrs: yAxis.incrs } : {}),
          values: (u, splits) => splits.map((v) => number.format(v) + (yAxis.unit || "")),
          size: 60,
        },
      ],
      series: [{ label: "Día", value: (u, ts) => (ts === null ? "—" : longDay.format(new Date(ts * 1000))) }, ...series],
      ...extra,
    };
  }

  function draw(area, opts, data) {
    area.textContent = "";
    const chart = new uPlot(opts, data, area);
    new ResizeObserver(() => chart.setSize({ width: Math.max(280, area.clientWidth), height: 240 })).observe(area);
    return chart;
  }

  function render(days) {
    const x = days.map((d) => seconds(d.date));
    const total = days.map((d) => d.conversations);
    const handed = days.map((d) => d.handedOff);
    const botOnly = days.map((d) => d.botOnly);
    const bars = uPlot.paths.bars({ size: [0.7, 60] });
    const area = (name) => section.querySelector(`[data-chart="${name}"]`);

    // Stacked bars: the full bar is every conversation (its upper part, the bot alone), drawn under the handed-off
    // part; the legend says each part's own count.
    draw(
      area("conversations"),
      options(
        area("conversations"),
        [
          { label: "Solo bot", fill: COLORS.bot, stroke: COLORS.bot, paths: bars, points: { show: false },
            value: (u, v, s, i) => (i === null ? "—" : String(botOnly[i])) },
          { label: "Derivadas a persona", fill: COLORS.person, stroke: COLORS.person, paths: bars, points: { show: false },
            value: (u, v) => (v === null || v === undefined ? "—" : String(v)) },
        ],
        { label: "Conversaciones", incrs: WHOLE_STEPS, scale: { range: (u, min, max) => [0, Math.max(1, max)] } },
      ),
      [x, total, handed],
    );
    draw(
      area("containment"),
      options(
        area("containment"),
        [{ label: "Contención", stroke: COLORS.bot, width: 2, spanGaps: true,
          value: (u, v) => shown(v, " %") }],
        { label: "%", unit: " %", scale: { range: [0, 100] } },
      ),
      [x, days.map((d) => (d.botContainmentRate === null ? null : Math.round(d.botContainmentRate * 1000) / 10))],
    );
    draw(
      area("response"),
      options(
        area("response"),
        [
          { label: "Mediana", stroke: COLORS.person, width: 2, spanGaps: true, value: (u, v) => shown(v, " min") },
          { label: "p90", stroke: COLORS.p90, width: 2, dash: [6, 4], spanGaps: true, value: (u, v) => shown(v, " min") },
        ],
        { label: "Minutos", scale: { range: (u, min, max) => [0, Math.max(1, max || 1)] } },
      ),
      [x, days.map((d) => minutes(d.firstResponseSeconds.p50)), days.map((d) => minutes(d.firstResponseSeconds.p90))],
    );
    draw(
      area("csat"),
      options(
        area("csat"),
        [{ label: "Promedio", stroke: COLORS.csat, width: 2, spanGaps: true, points: { size: 7 },
          value: (u, v) => shown(v) }],
        { label: "CSAT", scale: { range: [1, 5] } },
      ),
      [x, days.map((d) => d.csat.average)],
    );

    const body = document.querySelector("#daily-table tbody");
    body.replaceChildren(
      ...days.map((d) =>
        V.el(
          "tr",
          {},
          V.el("th", { scope: "row", text: longDay.format(new Date(seconds(d.date) * 1000)) }),
          V.el("td", { text: String(d.conversations) }),
          V.el("td", { text: String(d.botOnly) }),
          V.el("td", { text: String(d.handedOff) }),
          V.el("td", { text: d.botContainmentRate === null ? "—" : shown(d.botContainmentRate * 100, " %") }),
          V.el("td", {
            text: `${shown(minutes(d.firstResponseSeconds.p50), " min")} / ${shown(minutes(d.firstResponseSeconds.p90), " min")}`,
          }),
          V.el("td", { text: d.csat.average === null ? "—" : `${shown(d.csat.average)} (${d.csat.responses})` }),
        ),
      ),
    );
  }

  async function load() {
    try {
      const report = await V.api("GET", `/api/reports/daily?${section.dataset.query}`);
      render(report.days);
      V.setStatus(status, "");
      section.dataset.ready = "true";
    } catch (error) {
      V.setStatus(status, `No se pudieron cargar los gráficos. ${error.message}`, true);
    }
  }

  document.addEventListener("DOMContentLoaded", load);
})();
