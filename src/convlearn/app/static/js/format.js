// Numbers as the walk-throughs write them: integers plainly, others rounded to a few digits.

/** Like convlearn.explain's fmt_number: `digits` decimals, trailing zeros dropped. */
export function num(x, digits = 3) {
  if (x === null || x === undefined || Number.isNaN(x)) return "·";
  if (!Number.isFinite(x)) return String(x);
  const r = Number(x.toFixed(digits));
  if (r === 0) return "0";
  if (Number.isInteger(r)) return String(r);
  return r.toFixed(digits).replace(/0+$/, "").replace(/\.$/, "");
}

/** About 3 significant digits, for gradients and small weights. */
export function sig(x) {
  if (x === null || x === undefined || Number.isNaN(x)) return "·";
  if (x === 0 || !Number.isFinite(x)) return num(x);
  const size = Math.abs(x);
  if (size < 1e-5) return x.toExponential(1);
  return num(x, Math.max(3, 2 - Math.floor(Math.log10(size))));
}

/** A number inside a sum: negatives in parentheses. */
export function paren(x, f = sig) {
  const s = f(x);
  return s.startsWith("-") ? `(${s})` : s;
}

export function percent(p) { return `${(100 * p).toFixed(1)}%`; }

export function shape(dims) { return `(${dims.map((d) => (d === null ? "None" : d)).join(", ")})`; }

/** An HTML element, with attributes and children (strings become text). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
  return node;
}

/** A matrix as a small table; `classOf(r, c)` may name a class per cell. */
export function matrixTable(values, { caption = null, classOf = null, format = num, testid = null, cellAttrs = null } = {}) {
  const table = el("table", { class: "m", "data-testid": testid });
  if (caption) table.append(el("caption", { text: caption }));
  values.forEach((row, r) => {
    const tr = el("tr");
    row.forEach((v, c) => {
      const attrs = cellAttrs ? cellAttrs(r, c) : {};
      tr.append(el("td", { class: classOf ? classOf(r, c) : null, text: format(v), ...attrs }));
    });
    table.append(tr);
  });
  return table;
}
