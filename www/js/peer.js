// Data parallel on the CPU path: a second worker with its own engine, the same model (the
// save just made) and recipe, takes half of every batch; the two exchange gradients each step
// (engine.js connect_peer) and apply the same update, so the weights stay identical.
import { createEngine } from './engine.js';

// Prepares `eng` on what `prep` holds ({text | task, m, t}): a corpus, or a toy task by name.
export const prepareOn = (eng, prep, continueModel) => (prep.task
  ? eng.prepare_task(prep.task, prep.m, prep.t, continueModel)
  : eng.prepare_training(prep.text, prep.m, prep.t, continueModel));

// Starts the worker and its module (at Start, beside the main worker's preparation): {peer},
// or {why} training runs in one worker.
export function bootPeer(workers, describe) {
  if (workers < 2) return Promise.resolve({ why: '?workers=1 in the address' });
  if ((navigator.hardwareConcurrency || 1) < 2) return Promise.resolve({ why: 'this browser reports one core' });
  const peer = createEngine();
  return peer.init(false).then(() => ({ peer }), (e) => {
    peer.terminate();
    return { why: `the second worker could not start (${describe(e)})` };
  });
}

// Gives the booted peer (`b`: what bootPeer gave) the model (`bytes`, the save just made) and
// the recipe `prep`, and links it to `engine`. Returns the peer, or null (said in the Device
// panel through the 'workers' event) when training runs in one worker.
export async function startPeer(b, { engine, state, describe, prep, bytes }) {
  const one = (why) => { b.peer?.terminate(); state.emit('workers', `Training runs in one worker: ${why}.`); return null; };
  if (!b.peer) return one(b.why);
  if (state.device.dev.backend !== 'cpu') return one('it runs on the GPU');
  if (prep.t.batch_size < 2) return one('the batch has one sequence');
  const { peer } = b;
  try {
    await peer.load_checkpoint(bytes.slice(0), 'the training peer');
    await prepareOn(peer, prep, true);
    const ch = new MessageChannel();
    await Promise.all([engine.connect_peer(ch.port1, 0, 2), peer.connect_peer(ch.port2, 1, 2)]);
    peer.peer_run().catch(() => {}); // its failures show as the main worker's exchange failing
    state.emit('workers', `Training runs in 2 workers (data parallel): each computes half of every batch of ${prep.t.batch_size} on a core of its own, then they exchange gradients and apply the same update.`);
    return peer;
  } catch (e) {
    peer.terminate();
    return one(`the second worker could not start (${describe(e)})`);
  }
}

export async function stopPeer(engine, peer) {
  peer.terminate();
  await engine.disconnect_peer().catch(() => {});
}
