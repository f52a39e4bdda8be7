// 8-bit layer data from the server, drawn with a colour scale and its legend.

/** Decode base64 into a Uint8Array. */
export function bytes(b64) {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** Decode base64 float32 (little-endian) into a Float32Array. */
export function floats(b64) {
  const b = bytes(b64);
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
}

function lut(stops) {
  const table = new Uint8ClampedArray(256 * 3);
  for (let i = 0; i < 256; i++) {
    const t = i / 255;
    let k = 0;
    while (k < stops.length - 2 && t > stops[k + 1][0]) k++;
    const [t0, c0] = stops[k];
    const [t1, c1] = stops[k + 1];
    const f = t1 === t0 ? 0 : (t - t0) / (t1 - t0);
    for (let j = 0; j < 3; j++) table[i * 3 + j] = c0[j] + f * (c1[j] - c0[j]);
  }
  return table;
}

// sequential: dark violet -> teal -> yellow (viridis-like); diverging: blue -> white -> red
const MAPS = {
  sequential: lut([[0, [68, 1, 84]], [0.25, [59, 82, 139]], [0.5, [33, 145, 140]], [0.75, [94, 201, 98]], [1, [253, 231, 37]]]),
  diverging: lut([[0, [33, 102, 172]], [0.25, [103, 169, 207]], [0.5, [247, 247, 247]], [0.75, [239, 138, 98]], [1, [178, 24, 43]]]),
  gray: lut([[0, [0, 0, 0]], [1, [255, 255, 255]]]),
};

/** The value an 8-bit code stands for, on the view's scale. */
export function value(view, q) { return view.lo + (q / 255) * (view.hi - view.lo); }

/** Paint `h` x `w` codes from `data` (starting at `offset`) into `canvas`, one pixel per cell. */
export function paint(canvas, data, offset, h, w, scale = "sequential") {
  const map = MAPS[scale] || MAPS.sequential;
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(w, h);
  for (let i = 0; i < h * w; i++) {
    const q = data[offset + i];
    img.data[i * 4] = map[q * 3];
    img.data[i * 4 + 1] = map[q * 3 + 1];
    img.data[i * 4 + 2] = map[q * 3 + 2];
    img.data[i * 4 + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

/** A colour bar from `lo` to `hi` with its two numbers. */
export function legend(view, fmt, label = "") {
  const box = document.createElement("div");
  box.className = "legend";
  box.dataset.testid = "legend";
  const bar = document.createElement("canvas");
  const codes = new Uint8Array(256);
  for (let i = 0; i < 256; i++) codes[i] = i;
  paint(bar, codes, 0, 1, 256, view.scale);
  const lo = document.createElement("span");
  lo.textContent = fmt(view.lo);
  const hi = document.createElement("span");
  hi.textContent = fmt(view.hi);
  if (label) { const l = document.createElement("span"); l.textContent = label; box.append(l); }
  box.append(lo, bar, hi);
  return box;
}

export function rgb(scale, q) {
  const map = MAPS[scale] || MAPS.sequential;
  return `rgb(${map[q * 3]}, ${map[q * 3 + 1]}, ${map[q * 3 + 2]})`;
}
