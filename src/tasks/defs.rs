//! The toy tasks, each a seeded generator of (prompt, answer) examples with its vocabulary, the
//! circuit or skill it exercises, and a default recipe. Every prompt ends with a marker (`=`,
//! or the newline after the first copy in `induction`), so the answer always starts at the same
//! kind of token; the newline after each answer is added by the caller (mod.rs).

use super::{Recipe, Task, Vocab};
use crate::rng::Rng;

const LOWER: &str = "abcdefghijklmnopqrstuvwxyz";
const DIGITS: &str = "0123456789";
const WORDS: [&str; 10] = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"];
/// `modadd`'s modulus: small enough to grok in a couple of minutes on a CPU.
pub const MODADD_P: u32 = 31;

/// An integer in lo..=hi.
fn between(r: &mut Rng, lo: usize, hi: usize) -> usize {
    lo + r.below(hi - lo + 1)
}

/// lo..=hi characters of `alphabet`, drawn with replacement.
fn letters(r: &mut Rng, lo: usize, hi: usize, alphabet: &str) -> String {
    let n = between(r, lo, hi);
    let a: Vec<char> = alphabet.chars().collect();
    (0..n).map(|_| a[r.below(a.len())]).collect()
}

/// lo..=hi distinct characters of `alphabet` in random order.
fn distinct(r: &mut Rng, lo: usize, hi: usize, alphabet: &str) -> String {
    let n = between(r, lo, hi);
    let mut a: Vec<char> = alphabet.chars().collect();
    for i in 0..n {
        let j = i + r.below(a.len() - i);
        a.swap(i, j);
    }
    a[..n].iter().collect()
}

/// The small tasks' recipe: 2 layers of 4 heads, 64 wide, batch 32 and a high learning rate.
const SMALL: Recipe = Recipe { context: 0, n_layer: 2, n_head: 4, n_embd: 64, batch_size: 32, steps: 2000, lr: 3e-3, min_lr: 3e-4, warmup: 100, weight_decay: 0.1, beta2: 0.99, eval_interval: 100 };

fn reverse(r: &mut Rng) -> (String, String) {
    let s = letters(r, 3, 6, "abcdefgh");
    (format!("{s}="), s.chars().rev().collect())
}

fn sort(r: &mut Rng) -> (String, String) {
    let s = letters(r, 3, 6, DIGITS);
    let mut d: Vec<char> = s.chars().collect();
    d.sort_unstable();
    (format!("{s}="), d.into_iter().collect())
}

fn add(r: &mut Rng) -> (String, String) {
    let (a, b) = (r.below(100), r.below(100));
    (format!("{a}+{b}="), (a + b).to_string())
}

fn words(r: &mut Rng) -> (String, String) {
    let s = letters(r, 1, 3, DIGITS);
    let w: Vec<&str> = s.bytes().map(|d| WORDS[(d - b'0') as usize]).collect();
    (format!("{s}="), w.join(" "))
}

/// `induction`'s examples are this long: the context plus one.
const INDUCTION_TOKENS: usize = 33;

/// A string of 1..=12 letters after 0..=4 unrelated ones (all distinct), then the same string
/// again and again to the end of the context; the prompt ends with the second copy's first
/// letter and the answer is the rest. From there each letter is the one that followed the
/// current letter in the copy before: an induction head's rule. The lengths and the unmarked
/// prefix move the copies around, so no fixed offset (a positional shortcut) solves every
/// example; the strings of one and two letters make a head that looks one token back pay off
/// early, which is the previous-token head an induction head reads.
fn induction(r: &mut Rng) -> (String, String) {
    let p = between(r, 0, 4);
    let all = distinct(r, p + 1, p + 12, LOWER);
    let (prefix, s) = all.split_at(p);
    let copies: String = s.chars().cycle().take(INDUCTION_TOKENS - p).collect();
    let (first, rest) = copies.split_at(s.len() + 1);
    (format!("{prefix}{first}"), rest.to_string())
}

/// 16 distinct letters: longer than any `induction` string, so the task never generated it.
fn induction_probe(r: &mut Rng) -> String {
    distinct(r, 16, 16, LOWER)
}

fn modadd(r: &mut Rng) -> (String, String) {
    let p = MODADD_P as usize;
    let (a, b) = (r.below(p), r.below(p));
    (format!("{a}+{b}="), ((a + b) % p).to_string())
}

fn modadd_all() -> Vec<(String, String)> {
    let p = MODADD_P;
    (0..p).flat_map(|a| (0..p).map(move |b| (format!("{a}+{b}="), ((a + b) % p).to_string()))).collect()
}

fn recall(r: &mut Rng) -> (String, String) {
    let n = between(r, 2, 6);
    let keys: Vec<char> = distinct(r, n, n, LOWER).chars().collect();
    let vals: Vec<char> = letters(r, n, n, DIGITS).chars().collect();
    let q = r.below(n);
    let pairs: String = keys.iter().zip(&vals).flat_map(|(k, v)| [*k, *v]).collect();
    // the prompt ends with the queried key: its value is the token after its earlier copy
    (format!("{pairs}?{}", keys[q]), vals[q].to_string())
}

fn parity(r: &mut Rng) -> (String, String) {
    let s = letters(r, 4, 10, "01");
    let ones = s.bytes().filter(|&c| c == b'1').count();
    (format!("{s}="), (ones % 2).to_string())
}

fn brackets(r: &mut Rng) -> (String, String) {
    let n = between(r, 2, 10);
    let mut s = String::new();
    let mut open: Vec<char> = Vec::new();
    for _ in 0..n {
        if open.is_empty() || r.below(2) == 0 {
            let (o, c) = if r.below(2) == 0 { ('(', ')') } else { ('[', ']') };
            s.push(o);
            open.push(c);
        } else {
            s.push(open.pop().expect("not empty"));
        }
    }
    if open.is_empty() {
        s.push('(');
        open.push(')');
    }
    (format!("{s}="), open.iter().rev().collect())
}

fn count(r: &mut Rng) -> (String, String) {
    let s = letters(r, 1, 12, "ab");
    let a = s.bytes().filter(|&c| c == b'a').count();
    (format!("{s}="), a.to_string())
}

fn majority(r: &mut Rng) -> (String, String) {
    // an odd length: no ties
    let n = 2 * between(r, 1, 7) + 1;
    let s = letters(r, n, n, "ab");
    let a = s.bytes().filter(|&c| c == b'a').count();
    (format!("{s}="), (if 2 * a > s.len() { "a" } else { "b" }).to_string())
}

fn max(r: &mut Rng) -> (String, String) {
    let s = letters(r, 2, 8, DIGITS);
    (format!("{s}="), s.chars().max().expect("not empty").to_string())
}

fn mul(r: &mut Rng) -> (String, String) {
    let (a, b) = (r.below(100), r.below(10));
    (format!("{a}*{b}="), (a * b).to_string())
}

/// A task whose examples are drawn fresh (none of `every`), whose probe is a held-out example
/// and whose answers end with the newline: all but `induction` and `modadd`.
#[allow(clippy::too_many_arguments)]
const fn simple(
    name: &'static str,
    label: &'static str,
    skill: &'static str,
    vocab: Vocab,
    max_tokens: usize,
    make: fn(&mut Rng) -> (String, String),
    heldout: usize,
    recipe: Recipe,
) -> Task {
    Task { name, label, skill, vocab, max_tokens, make, every: None, heldout, probe: None, ends: true, recipe }
}

/// Every task, in the order the page and `tinygpt tasks` list them.
pub const TASKS: &[Task] = &[
    Task {
        name: "induction",
        label: "Induction: continue a repeated string",
        skill: "an induction head: find the earlier copy of the current letter and copy the letter after it, reading a previous-token head in the layer before",
        vocab: Vocab::Chars(LOWER),
        max_tokens: INDUCTION_TOKENS,
        make: induction,
        every: None,
        heldout: 256,
        probe: Some(induction_probe),
        ends: false,
        recipe: Recipe { context: 0, n_layer: 2, n_head: 2, n_embd: 64, batch_size: 32, steps: 1500, lr: 3e-3, min_lr: 3e-4, warmup: 100, weight_decay: 0.1, beta2: 0.99, eval_interval: 50 },
    },
    Task {
        name: "modadd",
        label: "Modular addition (grokking)",
        skill: "generalisation long after memorisation (grokking): weight decay slowly trades a lookup table of the training pairs for a circuit that adds on a circle",
        vocab: Vocab::Numbers(MODADD_P, "+="),
        max_tokens: 6,
        make: modadd,
        every: Some((modadd_all, 0.4)),
        heldout: 0,
        probe: None,
        ends: true,
        recipe: Recipe { context: 0, n_layer: 1, n_head: 4, n_embd: 128, batch_size: 256, steps: 3000, lr: 2e-3, min_lr: 2e-3, warmup: 50, weight_decay: 2.0, beta2: 0.98, eval_interval: 50 },
    },
    simple(
        "reverse",
        "Reverse a string",
        "reading backwards: each answer letter comes from a position that moves left as the answer moves right",
        Vocab::Chars("abcdefgh="),
        14,
        reverse,
        256,
        SMALL,
    ),
    simple(
        "sort",
        "Sort digits",
        "sorting: each answer digit is the smallest one not yet written, found by comparing every digit of the prompt",
        Vocab::Chars("0123456789="),
        14,
        sort,
        256,
        SMALL,
    ),
    simple(
        "add",
        "Add two numbers",
        "addition with carries: aligning digits of two numbers of different lengths",
        Vocab::Chars("0123456789+="),
        10,
        add,
        256,
        Recipe { steps: 4000, ..SMALL },
    ),
    simple(
        "words",
        "Digits to English words",
        "a lookup and a copy: each digit maps to a word, in order",
        Vocab::Chars("0123456789= efghinorstuvwxz"),
        22,
        words,
        100,
        SMALL,
    ),
    simple(
        "recall",
        "Associative recall",
        "associative recall: find the queried key among the pairs and copy the value after it (an induction-style head)",
        Vocab::Chars("abcdefghijklmnopqrstuvwxyz0123456789?"),
        16,
        recall,
        256,
        SMALL,
    ),
    simple(
        "parity",
        "Parity of a bit string",
        "parity: the answer depends on every bit at once, hard for attention, which averages (the model must count the ones mod 2)",
        Vocab::Chars("01="),
        13,
        parity,
        200,
        Recipe { steps: 3000, ..SMALL },
    ),
    simple(
        "brackets",
        "Close the brackets",
        "a stack: close every open bracket, innermost first, which needs the nesting depth at each position",
        Vocab::Chars("()[]="),
        24,
        brackets,
        256,
        Recipe { steps: 3000, ..SMALL },
    ),
    simple(
        "count",
        "Count the a's",
        "counting: a head spreads its attention evenly over the matching letters, and the count is read from that average",
        Vocab::Chars("ab0123456789="),
        16,
        count,
        256,
        SMALL,
    ),
    simple(
        "majority",
        "Majority letter",
        "majority: one head averages over the whole string, and the sign of the average decides",
        Vocab::Chars("ab="),
        18,
        majority,
        256,
        SMALL,
    ),
    simple(
        "max",
        "Largest digit",
        "max: a sharp, content-based head that attends to the largest digit",
        Vocab::Chars("0123456789="),
        11,
        max,
        256,
        SMALL,
    ),
    simple(
        "mul",
        "Multiply by a digit",
        "multiplication: partial products and carries, written from the most significant digit, so the whole product is needed before the first digit",
        Vocab::Chars("0123456789*="),
        9,
        mul,
        100,
        Recipe { steps: 4000, ..SMALL },
    ),
];
