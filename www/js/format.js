// How the page writes numbers and tokens.

// A token's text made visible: whitespace as symbols; "" is a BPE token holding part of a character.
export const showChar = (s) => (s === '' ? '∅' : s.replace(/\n/g, '↵').replace(/\t/g, '⇥').replace(/ /g, '␣'));

export const pct = (p) => `${(p * 100).toFixed(p < 0.001 ? 2 : 1)}%`;

// 124439808 -> "124M"; small models keep every digit.
export const fmtParams = (p) => (p >= 1e6 ? `${Math.round(p / 1e6)}M` : p.toLocaleString());

export const fmtBytes = (n) => (n >= 1048576 ? `${(n / 1048576).toFixed(0)} MB` : `${Math.ceil(n / 1024)} KB`);

// The engine's f32 settings arrive widened (lr 2e-3 as 0.0020000000949949026): the shortest
// decimal that is the same f32, as the engine will read it back (0.002).
export function shortF32(v) {
  for (let p = 1; p <= 9; p++) {
    const s = Number(v.toPrecision(p));
    if (Math.fround(s) === Math.fround(v)) return s;
  }
  return v;
}
