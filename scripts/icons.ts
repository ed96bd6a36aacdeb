// npm run icons: draws the console's app icons (public/icons/) without any network or image library:
// a white check mark on the console's accent blue, as SVG and as PNG (192 and 512 px, a plain PNG
// encoder over node:zlib). The outputs are committed; rerun after changing the drawing.
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { crc32, deflateSync } from "node:zlib";

const OUT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../public/icons");
const BLUE = [0x0a, 0x58, 0xca] as const;
/** The check mark's two strokes, in a 0..1 square (well inside the maskable safe zone). */
const STROKES: [number, number, number, number][] = [
  [0.3, 0.52, 0.44, 0.66],
  [0.44, 0.66, 0.72, 0.36],
];
const WIDTH = 0.08;

const svg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100">
  <title>Policy API console</title>
  <rect width="100" height="100" fill="#0a58ca"/>
  <path d="M30 52 L44 66 L72 36" fill="none" stroke="#fff" stroke-width="${WIDTH * 200}" stroke-linecap="round" stroke-linejoin="round"/>
</svg>
`;

function distanceToSegment(px: number, py: number, [ax, ay, bx, by]: [number, number, number, number]) {
  const dx = bx - ax;
  const dy = by - ay;
  const t = Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)));
  return Math.hypot(px - (ax + t * dx), py - (ay + t * dy));
}

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, "ascii");
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

function png(size: number): Buffer {
  const rows = Buffer.alloc(size * (1 + size * 3));
  for (let y = 0; y < size; y++) {
    const row = y * (1 + size * 3);
    rows[row] = 0; // filter: none
    for (let x = 0; x < size; x++) {
      const d = Math.min(...STROKES.map((s) => distanceToSegment((x + 0.5) / size, (y + 0.5) / size, s)));
      // One pixel of antialiasing at the stroke's edge.
      const cover = Math.max(0, Math.min(1, (WIDTH - d) * size + 0.5));
      for (let channel = 0; channel < 3; channel++)
        rows[row + 1 + x * 3 + channel] = Math.round((BLUE[channel] ?? 0) * (1 - cover) + 255 * cover);
    }
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // truecolour RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", deflateSync(rows, { level: 9 })),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

mkdirSync(OUT, { recursive: true });
writeFileSync(path.join(OUT, "icon.svg"), svg);
for (const size of [192, 512]) writeFileSync(path.join(OUT, `icon-${size}.png`), png(size));
console.log(`[icons] written to ${path.relative(process.cwd(), OUT)}`);
