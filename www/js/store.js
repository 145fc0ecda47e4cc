// Autosave in IndexedDB. A save writes the checkpoint under a fresh key and only then moves
// the "current" pointer to it, so a tab killed mid-save leaves the previous one intact.
import { pageError } from './engine.js';

const DB = 'tinygpt';
const STORE = 'checkpoints';

function open() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function tx(db, mode, fn) {
  return new Promise((resolve, reject) => {
    const t = db.transaction(STORE, mode);
    const s = t.objectStore(STORE);
    let out;
    Promise.resolve(fn(s)).then((v) => { out = v; });
    t.oncomplete = () => resolve(out);
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error || new Error('IndexedDB transaction aborted'));
  });
}

function get(s, key) {
  return new Promise((resolve, reject) => {
    const r = s.get(key);
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

// Test hook: saves stop after writing their data, as if the tab were killed mid-save.
let stallAfterData = false;
export function testStallSaves() { stallAfterData = true; }

// Saves `bytes` (ArrayBuffer) with `meta`; throws with a readable message (e.g. quota).
export async function autosave(bytes, meta) {
  const db = await open();
  try {
    const key = `ckpt-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
    await tx(db, 'readwrite', (s) => { s.put({ bytes, meta, savedAt: Date.now() }, key); });
    if (stallAfterData) throw new Error('stopped mid-save (test hook)');
    // The new checkpoint is complete: point at it, and drop every other one (the previous
    // save, and any left behind by a save that never got this far).
    await tx(db, 'readwrite', (s) => new Promise((resolve, reject) => {
      s.put(key, 'current');
      const r = s.getAllKeys();
      r.onsuccess = () => {
        for (const k of r.result) if (k !== 'current' && k !== key) s.delete(k);
        resolve();
      };
      r.onerror = () => reject(r.error);
    }));
  } catch (e) {
    // the browser names a full quota by the error's name
    const quota = e && e.name === 'QuotaExceededError';
    throw pageError('io', quota ? 'Autosave failed: the browser storage quota is full.' : `Autosave failed: ${e && e.message ? e.message : e}`);
  } finally {
    db.close();
  }
}

// The last complete autosave {bytes, meta, savedAt}, or null.
export async function restore() {
  const db = await open();
  try {
    return await tx(db, 'readonly', async (s) => {
      const key = await get(s, 'current');
      return key ? (await get(s, key)) || null : null;
    });
  } finally {
    db.close();
  }
}

export async function clear() {
  const db = await open();
  try {
    await tx(db, 'readwrite', (s) => s.clear());
  } finally {
    db.close();
  }
}
