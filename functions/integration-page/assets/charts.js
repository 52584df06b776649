// Horizontal bar charts as inline SVG: one bar per entry, labelled, with the count as text too, so the chart reads
// without the picture (and with a screen reader: the SVG has a title and the list of values).

const NS = "http://www.w3.org/2000/svg";

function el(name, attrs = {}, text) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Draws `entries` ([label, count]) into `container`, largest first. */
export function bars(container, entries, title) {
  container.replaceChildren();
  const rows = entries.filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
  if (rows.length === 0) {
    const p = document.createElement("p");
    p.className = "help";
    p.textContent = "Nothing yet.";
    container.append(p);
    return;
  }
  const max = Math.max(...rows.map(([, n]) => n));
  const rowHeight = 28;
  const labelWidth = 150;
  const width = 320;
  const svg = el("svg", {
    viewBox: `0 0 ${width} ${rows.length * rowHeight}`,
    role: "img",
    "aria-label": `${title}: ${rows.map(([l, n]) => `${l} ${n}`).join(", ")}`,
    class: "chart",
  });
  svg.append(el("title", {}, title));
  rows.forEach(([label, n], i) => {
    const y = i * rowHeight;
    const barWidth = Math.max(2, ((width - labelWidth - 40) * n) / max);
    svg.append(el("text", { x: 0, y: y + 18, class: "chart-label" }, label.length > 22 ? `${label.slice(0, 21)}…` : label));
    svg.append(el("rect", { x: labelWidth, y: y + 6, width: barWidth, height: 16, rx: 3, class: "chart-bar" }));
    svg.append(el("text", { x: labelWidth + barWidth + 6, y: y + 18, class: "chart-value" }, String(n)));
  });
  container.append(svg);
}

/**
 * Draws stacked columns into `container`: one column per day of `days` ([{date, byRecipe}]), one colour per
 * recipe (`names` gives their titles), with a legend. The SVG's label lists every figure.
 */
export function columns(container, days, names, title) {
  container.replaceChildren();
  const series = [...new Set(days.flatMap((d) => Object.keys(d.byRecipe || {})))].sort();
  const total = (d) => Object.values(d.byRecipe || {}).reduce((a, b) => a + b, 0);
  if (series.length === 0) {
    const p = document.createElement("p");
    p.className = "help";
    p.textContent = "Nothing sent in the last two weeks.";
    container.append(p);
    return;
  }
  const max = Math.max(1, ...days.map(total));
  const width = 320;
  const height = 120;
  const step = width / days.length;
  const described = days
    .filter((d) => total(d) > 0)
    .map((d) => `${d.date}: ${series.filter((s) => d.byRecipe[s]).map((s) => `${names(s)} ${d.byRecipe[s]}`).join(", ")}`)
    .join("; ");
  const svg = el("svg", { viewBox: `0 0 ${width} ${height + 18}`, role: "img", "aria-label": `${title}: ${described}`, class: "chart" });
  svg.append(el("title", {}, title));
  days.forEach((d, i) => {
    let y = height;
    series.forEach((s, k) => {
      const n = d.byRecipe?.[s] || 0;
      if (!n) return;
      const h = (height - 14) * (n / max);
      y -= h;
      svg.append(el("rect", { x: i * step + 2, y, width: step - 4, height: h, class: `chart-series-${k % 6}` }));
    });
    if (total(d) > 0) svg.append(el("text", { x: i * step + step / 2, y: y - 3, "text-anchor": "middle", class: "chart-value" }, String(total(d))));
    // Every other day labelled, by its day of the month.
    if (i % 2 === days.length % 2) {
      svg.append(el("text", { x: i * step + step / 2, y: height + 14, "text-anchor": "middle", class: "chart-label" }, String(Number(d.date.slice(8)))));
    }
  });
  const legend = document.createElement("ul");
  legend.className = "legend";
  series.forEach((s, k) => {
    const li = document.createElement("li");
    const swatch = document.createElement("span");
    swatch.className = `swatch chart-series-${k % 6}`;
    swatch.setAttribute("aria-hidden", "true");
    li.append(swatch, names(s));
    legend.append(li);
  });
  container.append(svg, legend);
}
