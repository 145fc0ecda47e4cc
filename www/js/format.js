// How the page writes numbers and tokens.

// A token's text made visible: whitespace as symbols; "" is a BPE token holding part of a character.
export const showChar = (s) => (s === '' ? '∅' : s.replace(/\n/g, '↵').replace(/\t/g, '⇥').replace(/ /g, '␣'));

export const pct = (p) => `${(p * 100).toFixed(p < 0.001 ? 2 : 1)}%`;

// 124439808 -> "124M"; small models keep every digit.
export const fmtParams = (p) => (p >= 1e6 ? `${Math.round(p / 1e6)}M` : p.toLocaleString());

export const fmtBytes = (n) => (n >= 1048576 ? `${(n / 1048576).toFixed(0)} MB` : `${Math.ceil(n / 1024)} KB`);
