// CSV import of shipments: send the file to the API; on success reload the list (with a confirmation), otherwise
// show what is wrong, row by row.
"use strict";

(() => {
  const form = document.getElementById("import-form");
  if (!form) return;
  const report = document.getElementById("import-report");
  const COLUMN_NAMES = { header: "Encabezado", row: "Fila entera", file: "Archivo" };

  function problemsTable(problems) {
    const head = V.el("thead", {}, V.el("tr", {},
      V.el("th", { scope: "col", text: "Fila" }),
      V.el("th", { scope: "col", text: "Columna" }),
      V.el("th", { scope: "col", text: "Problema" })));
    const body = V.el("tbody", {}, ...problems.map((p) => V.el("tr", {},
      V.el("td", { text: p.row ?? "—" }),
      V.el("td", { text: p.column ?? (p.key ? V.fieldLabel(p.key, COLUMN_NAMES) : "—") }),
      V.el("td", { text: p.message ?? "" }))));
    const table = V.el("table", { className: "list problems", id: "import-problems" },
      V.el("caption", { text: "Problemas por fila (la fila 1 es el encabezado)" }), head, body);
    V.labelTable(table);
    return table;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = document.getElementById("csv-file").files[0];
    if (!file) return;
    const body = new FormData();
    body.append("file", file);
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    report.replaceChildren(V.el("p", { text: "Importando…" }));
    try {
      const result = await V.api("POST", form.dataset.url, body);
      sessionStorage.setItem("ventanilla-flash",
        `Importación lista: ${result.created} envíos nuevos y ${result.updated} actualizados.`);
      location.reload();
      return;
    } catch (error) {
      const problems = error.body && Array.isArray(error.body.extra) ? error.body.extra : [];
      const parts = [V.el("p", { className: "error", role: "alert",
        text: problems.length ? "No se importó nada: corrige estas filas y vuelve a intentarlo." : error.message })];
      if (problems.length) parts.push(problemsTable(problems));
      report.replaceChildren(...parts);
    } finally {
      button.disabled = false;
    }
  });
})();
