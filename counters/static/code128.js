// Code 128 (set B) as SVG, for the photo booth's barcode slip: the desk's scanner reads it
// back. Hand-written so that nothing is fetched or built; the patterns are the standard's
// (ISO/IEC 15417), 1 = bar module, 0 = space.

const PATTERNS = [
  "11011001100", "11001101100", "11001100110", "10010011000", "10010001100", "10001001100", "10011001000", "10011000100",
  "10001100100", "11001001000", "11001000100", "11000100100", "10110011100", "10011011100", "10011001110", "10111001100",
  "10011101100", "10011100110", "11001110010", "11001011100", "11001001110", "11011100100", "11001110100", "11101101110",
  "11101001100", "11100101100", "11100100110", "11101100100", "11100110100", "11100110010", "11011011000", "11011000110",
  "11000110110", "10100011000", "10001011000", "10001000110", "10110001000", "10001101000", "10001100010", "11010001000",
  "11000101000", "11000100010", "10110111000", "10110001110", "10001101110", "10111011000", "10111000110", "10001110110",
  "11101110110", "11010001110", "11000101110", "11011101000", "11011100010", "11011101110", "11101011000", "11101000110",
  "11100010110", "11101101000", "11101100010", "11100011010", "11101111010", "11001000010", "11110001010", "10100110000",
  "10100001100", "10010110000", "10010000110", "10000101100", "10000100110", "10110010000", "10110000100", "10011010000",
  "10011000010", "10000110100", "10000110010", "11000010010", "11001010000", "11110111010", "11000010100", "10001111010",
  "10100111100", "10010111100", "10010011110", "10111100100", "10011110100", "10011110010", "11110100100", "11110010100",
  "11110010010", "11011011110", "11011110110", "11110110110", "10101111000", "10100011110", "10001011110", "10111101000",
  "10111100010", "11110101000", "11110100010", "10111011110", "10111101110", "11101011110", "11110101110", "11010000100",
  "11010010000", "11010011100",
];
const START_B = 104;
const STOP = "1100011101011";
const QUIET_MODULES = 10;

// The bars of `text` (printable ASCII only), as a string of modules.
export function code128Modules(text) {
  const values = [];
  for (const ch of text) {
    const code = ch.charCodeAt(0);
    if (code < 32 || code > 126) throw new Error("Code 128 B holds printable ASCII only");
    values.push(code - 32);
  }
  let check = START_B;
  values.forEach((v, i) => { check += v * (i + 1); });
  return [PATTERNS[START_B], ...values.map((v) => PATTERNS[v]), PATTERNS[check % 103], STOP].join("");
}

export function code128Svg(text, heightModules = 50) {
  const modules = code128Modules(text);
  const ns = "http://www.w3.org/2000/svg";
  const width = modules.length + 2 * QUIET_MODULES;
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${heightModules}`);
  svg.setAttribute("class", "barcode");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", text);
  svg.setAttribute("data-modules", modules);
  const bg = document.createElementNS(ns, "rect");
  bg.setAttribute("width", String(width));
  bg.setAttribute("height", String(heightModules));
  bg.setAttribute("fill", "#fff");
  svg.append(bg);
  let x = 0;
  while (x < modules.length) {
    if (modules[x] === "1") {
      let run = 1;
      while (modules[x + run] === "1") run += 1;
      const bar = document.createElementNS(ns, "rect");
      bar.setAttribute("x", String(QUIET_MODULES + x));
      bar.setAttribute("width", String(run));
      bar.setAttribute("height", String(heightModules));
      bar.setAttribute("fill", "#000");
      svg.append(bar);
      x += run;
    } else {
      x += 1;
    }
  }
  return svg;
}
