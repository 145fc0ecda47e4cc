// Toy tasks that make attention patterns easy to see. Each example is one line
// "<task> <input>=<answer>"; the model learns to continue after "=" up to the newline.

const ONES = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];

function rand(rng, n) { return Math.floor(rng() * n); }

// A small seeded PRNG (mulberry32) so the same seed gives the same task data.
export function seeded(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const TASKS = {
  reverse: {
    label: 'Reverse a string',
    make(rng) {
      const n = 3 + rand(rng, 4);
      let s = '';
      for (let i = 0; i < n; i++) s += 'abcdefgh'[rand(rng, 8)];
      return [`reverse ${s}=`, [...s].reverse().join('')];
    },
  },
  sort: {
    label: 'Sort digits',
    make(rng) {
      const n = 3 + rand(rng, 4);
      const d = Array.from({ length: n }, () => rand(rng, 10));
      return [`sort ${d.join('')}=`, [...d].sort((a, b) => a - b).join('')];
    },
  },
  add: {
    label: 'Add two numbers',
    make(rng) {
      const a = rand(rng, 100), b = rand(rng, 100);
      return [`add ${a}+${b}=`, String(a + b)];
    },
  },
  words: {
    label: 'Digits to English words',
    make(rng) {
      const n = 1 + rand(rng, 3);
      const d = Array.from({ length: n }, () => rand(rng, 10));
      return [`say ${d.join('')}=`, d.map((x) => ONES[x]).join(' ')];
    },
  },
};

// Training text of `n` examples plus `held` held-out [prompt, answer] pairs not in it.
export function makeTask(name, n = 4000, held = 20, seed = 1) {
  const rng = seeded(seed);
  const task = TASKS[name];
  const seen = new Set();
  const lines = [];
  while (lines.length < n) {
    const [p, a] = task.make(rng);
    seen.add(p);
    lines.push(p + a);
  }
  const test = [];
  for (let tries = 0; test.length < held && tries < 100000; tries++) {
    const [p, a] = task.make(rng);
    if (!seen.has(p)) { seen.add(p); test.push([p, a]); }
  }
  return { text: lines.join('\n') + '\n', test };
}
