// Every training run, kept in this browser: IndexedDB database `tinygpt-runs` (apart from
// store.js's `tinygpt`, which holds the autosave). Store `runs` holds the records, keyed by an
// auto-incremented id (creation order); store `models` holds each run's checkpoint bytes
// (ArrayBuffer) under its run's id.
//
// A record: {id, startedAt, updatedAt, state: 'running'|'paused'|'done'|'failed',
//   source: {corpus, task, label}, settings: {n_layer, n_head, n_embd, block_size, pos, tokenizer,
//   batch_size, lr, steps, weight_decay, dropout, ...}, budget: minutes|'all', backend, workers,
//   step, durationMs, msPerStep, curve: {loss, val, trainExact, valExact} ([[step, v]...], already
//   decimated by the caller), bestVal, bestExact, sample, hasModel}.
//
// The bound: at most MAX_MODELS (20) runs keep their model. Saving a 21st drops the models of the
// oldest runs first (their records stay, with hasModel false); a run's later save (a paused run
// resumed) replaces its own model and counts once. Records are capped at MAX_RUNS (200): beyond,
// the oldest go, with their models.
//
// Every function is async and throws page errors (kind 'io') with a readable message; a full
// storage quota says so.
import { pageError } from './engine.js';

export const MAX_MODELS = 20;
export const MAX_RUNS = 200;

const DB = 'tinygpt-runs';
const RUNS = 'runs';
const MODELS = 'models';

let opening = null; // the open connection (a promise), shared by every call

function open() {
  if (!opening) {
    opening = new Promise((resolve, reject) => {
      const req = indexedDB.open(DB, 1);
      req.onupgradeneeded = () => {
        const db = req.result;
        if (!db.objectStoreNames.contains(RUNS)) db.createObjectStore(RUNS, { keyPath: 'id', autoIncrement: true });
        if (!db.objectStoreNames.contains(MODELS)) db.createObjectStore(MODELS);
      };
      req.onsuccess = () => {
        const db = req.result;
        // another tab upgrading, or the browser closing it: open again next time
        db.onversionchange = () => { db.close(); opening = null; };
        db.onclose = () => { opening = null; };
        resolve(db);
      };
      req.onerror = () => reject(req.error);
      req.onblocked = () => reject(new Error('the runs database is held by another tab'));
    });
    opening.catch(() => { opening = null; });
  }
  return opening;
}

function request(r) {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

// Runs `fn(stores)` in one transaction over both stores; resolves with its value once the
// transaction has committed.
async function tx(mode, fn) {
  const db = await open();
  return new Promise((resolve, reject) => {
    const t = db.transaction([RUNS, MODELS], mode);
    let out;
    let failure = null;
    Promise.resolve(fn({ runs: t.objectStore(RUNS), models: t.objectStore(MODELS) })).then(
      (v) => { out = v; },
      (e) => { failure = e; try { t.abort(); } catch { /* already finished */ } },
    );
    t.oncomplete = () => resolve(out);
    t.onerror = () => reject(failure || t.error);
    t.onabort = () => reject(failure || t.error || new Error('IndexedDB transaction aborted'));
  });
}

// A readable page error for what IndexedDB threw while `doing`.
function readable(e, doing) {
  if (e && e.kind) return e;
  const quota = e && (e.name === 'QuotaExceededError' || /quota/i.test(String(e.message)));
  if (quota) return pageError('io', `Could not ${doing}: the browser's storage for this page is full. Delete some runs (their models take the room) and try again.`);
  return pageError('io', `Could not ${doing}: ${e && e.message ? e.message : e}`);
}

async function guarded(doing, fn) {
  try {
    return await fn();
  } catch (e) {
    throw readable(e, doing);
  }
}

// Stores a new run's record (without id; one is given) and returns its id. Beyond MAX_RUNS
// records, the oldest go with their models.
export function begin(record) {
  return guarded('keep the run', () => tx('readwrite', async ({ runs, models }) => {
    const now = Date.now();
    const rec = { state: 'running', startedAt: now, hasModel: false, ...record, updatedAt: now };
    delete rec.id;
    const id = await request(runs.add(rec));
    const keys = await request(runs.getAllKeys()); // ascending: oldest first
    for (const k of keys.slice(0, Math.max(0, keys.length - MAX_RUNS))) {
      runs.delete(k);
      models.delete(k);
    }
    return id;
  }));
}

// Merges `patch` into run `id`'s record; false when there is no such run (deleted meanwhile).
export function update(id, patch) {
  return guarded('update the run', () => tx('readwrite', async ({ runs }) => {
    const rec = await request(runs.get(id));
    if (!rec) return false;
    runs.put({ ...rec, ...patch, id, updatedAt: Date.now() });
    return true;
  }));
}

// Saves run `id`'s model (ArrayBuffer or a typed array), replacing an earlier save of the same
// run; then drops the oldest runs' models beyond MAX_MODELS. False when the run is gone.
export function saveModel(id, bytes) {
  const buf = ArrayBuffer.isView(bytes) ? bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) : bytes;
  return guarded('keep the run\'s model', () => tx('readwrite', async ({ runs, models }) => {
    const rec = await request(runs.get(id));
    if (!rec) return false;
    models.put(buf, id);
    runs.put({ ...rec, hasModel: true, updatedAt: Date.now() });
    const keys = (await request(models.getAllKeys())).filter((k) => k !== id); // oldest first
    const drop = keys.slice(0, Math.max(0, keys.length + 1 - MAX_MODELS));
    for (const k of drop) {
      models.delete(k);
      const r = await request(runs.get(k));
      if (r) runs.put({ ...r, hasModel: false });
    }
    return true;
  }));
}

// Every record, newest first.
export function list() {
  return guarded('read the runs', () => tx('readonly', ({ runs }) => request(runs.getAll())))
    .then((all) => all.sort((a, b) => (b.startedAt - a.startedAt) || (b.id > a.id ? 1 : b.id < a.id ? -1 : 0)));
}

// One record, or null.
export function get(id) {
  return guarded('read the run', () => tx('readonly', ({ runs }) => request(runs.get(id)))).then((r) => r || null);
}

// Run `id`'s model bytes (ArrayBuffer), or null when it has none.
export function model(id) {
  return guarded('read the run\'s model', () => tx('readonly', ({ models }) => request(models.get(id)))).then((b) => b || null);
}

// Deletes run `id`'s record and model.
export function remove(id) {
  return guarded('delete the run', () => tx('readwrite', ({ runs, models }) => {
    runs.delete(id);
    models.delete(id);
  }));
}
