// Sorts a leaderboard table when a column header is clicked: a second click reverses the order.
// Numeric columns (th data-type="number") compare their cells' data-value as numbers, the others
// compare text; cells without a value go last in both directions. Local file, no dependencies.
"use strict";

function sortTable(table, headers, column) {
  const header = headers[column];
  const ascending = header.getAttribute("aria-sort") !== "ascending";
  const numeric = header.dataset.type === "number";
  const body = table.tBodies[0];
  const key = (row) => {
    const cell = row.cells[column];
    const raw = (cell.dataset.value ?? cell.textContent).trim();
    if (raw === "") return null;
    return numeric ? Number(raw) : raw;
  };
  const rows = Array.from(body.rows);
  rows.sort((a, b) => {
    const x = key(a);
    const y = key(b);
    if (x === null || y === null) return (x === null) - (y === null);
    const order = numeric ? x - y : x.localeCompare(y);
    return ascending ? order : -order;
  });
  for (const other of headers) other.removeAttribute("aria-sort");
  header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  body.append(...rows);
}

document.addEventListener("DOMContentLoaded", () => {
  for (const table of document.querySelectorAll("table.sortable")) {
    const headers = Array.from(table.tHead.rows[0].cells);
    headers.forEach((header, column) => {
      header.addEventListener("click", () => sortTable(table, headers, column));
    });
  }
});
