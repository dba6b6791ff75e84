/**
 * Writes the PWA icons under static/icons/ as PNG files, drawn from a few polygons with 4x4
 * supersampling and encoded with node:zlib, so the icons are reproducible without image tools.
 * Run: node scripts/make-icons.mjs (outputs are committed).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';

const OUT_DIR = new URL('../static/icons/', import.meta.url);
const BACKGROUND = [11, 16, 32];
const GLOW = [30, 58, 138];

/** The logo: a crystal shard split into facets, in unit coordinates (0..1, y down). */
const FACETS = [
  {
    color: [125, 211, 252],
    points: [
      [0.5, 0.08],
      [0.72, 0.42],
      [0.5, 0.5]
    ]
  },
  {
    color: [56, 189, 248],
    points: [
      [0.5, 0.08],
      [0.5, 0.5],
      [0.3, 0.46]
    ]
  },
  {
    color: [14, 165, 233],
    points: [
      [0.3, 0.46],
      [0.5, 0.5],
      [0.44, 0.92]
    ]
  },
  {
    color: [2, 132, 199],
    points: [
      [0.5, 0.5],
      [0.72, 0.42],
      [0.44, 0.92]
    ]
  },
  {
    color: [167, 139, 250],
    points: [
      [0.76, 0.5],
      [0.86, 0.62],
      [0.7, 0.8],
      [0.64, 0.64]
    ]
  },
  {
    color: [196, 181, 253],
    points: [
      [0.2, 0.56],
      [0.28, 0.62],
      [0.22, 0.74],
      [0.14, 0.66]
    ]
  }
];

function insidePolygon(x, y, points) {
  let inside = false;
  for (let i = 0, j = points.length - 1; i < points.length; j = i++) {
    const [xi, yi] = points[i];
    const [xj, yj] = points[j];
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

function insideRoundedSquare(x, y, radius) {
  const dx = Math.max(radius - x, 0, x - (1 - radius));
  const dy = Math.max(radius - y, 0, y - (1 - radius));
  return dx * dx + dy * dy <= radius * radius;
}

/**
 * Colour of one sample point, or null for transparent.
 * `logoScale` shrinks the logo around the centre (maskable icons keep it in the safe zone).
 */
function sample(x, y, { logoScale, isFullBleed }) {
  if (!isFullBleed && !insideRoundedSquare(x, y, 0.22)) return null;
  const lx = (x - 0.5) / logoScale + 0.5;
  const ly = (y - 0.5) / logoScale + 0.5;
  for (const facet of FACETS) if (insidePolygon(lx, ly, facet.points)) return facet.color;
  const d = Math.min(1, Math.hypot(x - 0.5, y - 0.45) / 0.6);
  return BACKGROUND.map((c, i) => Math.round(GLOW[i] * (1 - d) + c * d));
}

function render(size, options) {
  const SS = 4;
  const rgba = Buffer.alloc(size * size * 4);
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      let r = 0,
        g = 0,
        b = 0,
        a = 0;
      for (let sy = 0; sy < SS; sy++) {
        for (let sx = 0; sx < SS; sx++) {
          const c = sample((px + (sx + 0.5) / SS) / size, (py + (sy + 0.5) / SS) / size, options);
          if (!c) continue;
          r += c[0];
          g += c[1];
          b += c[2];
          a += 1;
        }
      }
      const o = (py * size + px) * 4;
      if (a > 0) {
        rgba[o] = Math.round(r / a);
        rgba[o + 1] = Math.round(g / a);
        rgba[o + 2] = Math.round(b / a);
      }
      rgba[o + 3] = Math.round((a / (SS * SS)) * 255);
    }
  }
  return rgba;
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf) {
  let c = 0xffffffff;
  for (const byte of buf) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/** Encodes 8-bit RGBA pixels as a PNG (filter 0 on every row). */
function encodePng(size, rgba) {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header[8] = 8; // bit depth
  header[9] = 6; // colour type RGBA
  const raw = Buffer.alloc((size * 4 + 1) * size);
  for (let y = 0; y < size; y++)
    rgba.copy(raw, y * (size * 4 + 1) + 1, y * size * 4, (y + 1) * size * 4);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0))
  ]);
}

const ICONS = [
  { name: 'icon-192.png', size: 192, logoScale: 0.9, isFullBleed: false },
  { name: 'icon-512.png', size: 512, logoScale: 0.9, isFullBleed: false },
  // Maskable: full-bleed background, logo inside the central 80% safe zone.
  { name: 'maskable-192.png', size: 192, logoScale: 0.66, isFullBleed: true },
  { name: 'maskable-512.png', size: 512, logoScale: 0.66, isFullBleed: true },
  // iOS masks its own corners and ignores transparency.
  { name: 'apple-touch-icon.png', size: 180, logoScale: 0.8, isFullBleed: true },
  { name: 'favicon-32.png', size: 32, logoScale: 1, isFullBleed: false }
];

mkdirSync(OUT_DIR, { recursive: true });
for (const icon of ICONS) {
  const png = encodePng(icon.size, render(icon.size, icon));
  writeFileSync(new URL(icon.name, OUT_DIR), png);
  console.log(`${icon.name} ${icon.size}x${icon.size} ${png.length} bytes`);
}
