// Causal multi-head self-attention, fused (FlashAttention-2): softmax(q·kᵀ/sqrt(hs)) · v per
// head without writing the scores. qkv rows are [q (C) | k (C) | v (C)]; head h uses channels
// h*hs..(h+1)*hs of each part, hs = C/NH <= 64 (ModelConfig::validate refuses more). The Tq
// queries are the last Tq of the Tk positions: query i sits at position Tk-Tq+i and sees keys
// 0..=that position. Forward keeps each row's log-sum-exp, lse = log Σ_j exp(s_j); backward
// recomputes the probabilities exp(s_j - lse) from it instead of reading them.
//
// Bindings (group 0; storage buffers read_write so views of one buffer may share a dispatch):
//   0 p     uniform Params
//   1 out   forward: out[B,Tq,C] written | backward: dqkv[B,T,3C] written (overwritten)
//   2 lse   [B,NH,Tq] forward: written | backward: read
//   3 att   [B,NH,Tq,Tk] forward: the probabilities (zero above the diagonal), written only when
//           write_att == 1 (the attention views); else a dummy
//   4 qkv   [B,Tk,3C] read
//   5 dout  [B,T,C] backward: read
//   6 y     [B,T,C] backward: the forward's out, read
//   7 dsum  [B,NH,T] backward scratch: D_i = dout_i·y_i (= Σ_j att_ij·datt_ij), written by
//           _dq, read by _dkv
//
// attention_forward:      workgroup (16 lanes, 16 query rows) per (query block of 16, h, b):
//                         the block's queries in workgroup memory, K and V through it 16 keys at
//                         a time up to the block's last position (tiles above the diagonal are
//                         never loaded), an online softmax per row; lane l of a row holds
//                         output channels l, l+16, l+32, l+48.
// attention_decode:       workgroup of 64 per (query, h, b), for a few queries (KV-cached
//                         decoding): 64 keys at a time, one per invocation, with tree max/sum
//                         reductions in workgroup memory.
// attention_backward_dq:  workgroup (16, 16) per (query block of 16, h, b), keys 8 at a time up
//                         to the diagonal: dq, and D for the rows (written to dsum).
// attention_backward_dkv: workgroup (16, 16) per (key block of 16, h, b), queries 8 at a time
//                         from the diagonal on: dk and dv. Each output row is owned by one
//                         workgroup and summed in a fixed order: deterministic, no atomics.
//                         Backward is training-only (Tq = Tk = T).
// Every barrier is in uniform control flow: loop trip counts come from workgroup_id and p only;
// rows past the end (padding of the last block) compute on clamped indices and write nothing.

struct Params {
    B: u32, Tq: u32, Tk: u32, C: u32,
    NH: u32, out_off: u32, lse_off: u32, att_off: u32,
    qkv_off: u32, dout_off: u32, y_off: u32, dsum_off: u32,
    write_att: u32, _p0: u32, _p1: u32, _p2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read_write> lse: array<f32>;
@group(0) @binding(3) var<storage, read_write> att: array<f32>;
@group(0) @binding(4) var<storage, read_write> qkv: array<f32>;
@group(0) @binding(5) var<storage, read_write> dout: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: array<f32>;
@group(0) @binding(7) var<storage, read_write> dsum: array<f32>;

const HS = 64u;   // the largest head size; tiles hold HS channels, zero past hs
const LD = 65u;   // row stride of tiles read along a row by different lanes (no bank conflicts)
const NEG = -3.0e38;

// ---- forward ----
var<workgroup> fq: array<f32, 1040>; // [16 queries][LD]
var<workgroup> fk: array<f32, 1040>; // [16 keys][LD]
var<workgroup> fv: array<f32, 1024>; // [16 keys][HS]
var<workgroup> fs: array<f32, 256>;  // [16 queries][16 keys] scores
var<workgroup> fp: array<f32, 256>;  // [16 queries][16 keys] exp(score - running max)

@compute @workgroup_size(16, 16)
fn attention_forward(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>) {
    let lane = lid.x;
    let r = lid.y;
    let tid = r * 16u + lane;
    let h = wg.y;
    let b = wg.z;
    let C3 = 3u * p.C;
    let hs = p.C / p.NH;
    let ne = (hs + 15u) / 16u; // channels per lane
    let scale = 1.0 / sqrt(f32(hs));
    let shift = p.Tk - p.Tq;
    let q0 = wg.x * 16u;
    let qi = q0 + r;
    let live = qi < p.Tq;
    let pos = shift + min(qi, p.Tq - 1u);
    let base = p.qkv_off + b * p.Tk * C3 + h * hs; // head h's q at position 0
    for (var x = tid; x < 16u * HS; x += 256u) {
        let rr = x / HS;
        let d = x % HS;
        var v = 0.0;
        if d < hs { v = qkv[base + (shift + min(q0 + rr, p.Tq - 1u)) * C3 + d]; }
        fq[rr * LD + d] = v;
    }
    var m = NEG;
    var l = 0.0;
    var o = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
    let last = shift + min(q0 + 15u, p.Tq - 1u); // the block's last position
    let ntiles = last / 16u + 1u;
    let arow = p.att_off + ((b * p.NH + h) * p.Tq + qi) * p.Tk;
    for (var t = 0u; t < ntiles; t++) {
        let k0 = t * 16u;
        workgroupBarrier(); // the previous tile is read (and q written, the first time)
        for (var x = tid; x < 16u * HS; x += 256u) {
            let rr = x / HS;
            let d = x % HS;
            let j = k0 + rr;
            var kv = 0.0;
            var vv = 0.0;
            if d < hs && j < p.Tk {
                kv = qkv[base + j * C3 + p.C + d];
                vv = qkv[base + j * C3 + 2u * p.C + d];
            }
            fk[rr * LD + d] = kv;
            fv[rr * HS + d] = vv;
        }
        workgroupBarrier();
        let j = k0 + lane;
        var s = 0.0;
        for (var d = 0u; d < hs; d++) { s += fq[r * LD + d] * fk[lane * LD + d]; }
        s *= scale;
        let seen = j <= pos;
        // the raw score for now; turned into a probability once lse is known (same invocation)
        if seen && live && p.write_att == 1u { att[arow + j] = s; }
        fs[r * 16u + lane] = select(NEG, s, seen);
        workgroupBarrier();
        var mt = NEG;
        for (var k = 0u; k < 16u; k++) { mt = max(mt, fs[r * 16u + k]); }
        let mn = max(m, mt);
        fp[r * 16u + lane] = select(0.0, exp(s - mn), seen);
        let alpha = exp(m - mn);
        workgroupBarrier();
        var ps = 0.0;
        for (var k = 0u; k < 16u; k++) { ps += fp[r * 16u + k]; }
        l = l * alpha + ps;
        for (var e = 0u; e < 4u; e++) {
            if e < ne {
                let d = lane + 16u * e;
                var acc = o[e] * alpha;
                for (var k = 0u; k < 16u; k++) { acc += fp[r * 16u + k] * fv[k * HS + d]; }
                o[e] = acc;
            }
        }
        m = mn;
    }
    if live {
        let inv = 1.0 / l;
        let ob = p.out_off + (b * p.Tq + qi) * p.C + h * hs;
        for (var e = 0u; e < 4u; e++) {
            let d = lane + 16u * e;
            if d < hs { out[ob + d] = o[e] * inv; }
        }
        let ls = m + log(l);
        if lane == 0u { lse[p.lse_off + (b * p.NH + h) * p.Tq + qi] = ls; }
        if p.write_att == 1u {
            for (var j = lane; j < p.Tk; j += 16u) {
                var v = 0.0;
                if j <= pos { v = exp(att[arow + j] - ls); }
                att[arow + j] = v;
            }
        }
    }
}

// ---- decoding: a few queries against many keys ----
var<workgroup> dqr: array<f32, 64>;  // the query row
var<workgroup> dred: array<f32, 64>; // reductions
var<workgroup> dpr: array<f32, 64>;  // the chunk's exp(score - running max)

@compute @workgroup_size(64)
fn attention_decode(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>) {
    let lane = lid.x;
    let qi = wg.x;
    let h = wg.y;
    let b = wg.z;
    let C3 = 3u * p.C;
    let hs = p.C / p.NH;
    let scale = 1.0 / sqrt(f32(hs));
    let pos = p.Tk - p.Tq + qi;
    let base = p.qkv_off + b * p.Tk * C3 + h * hs;
    var qv = 0.0;
    if lane < hs { qv = qkv[base + pos * C3 + lane]; }
    dqr[lane] = qv;
    var m = NEG;
    var l = 0.0;
    var o = 0.0; // output channel `lane`
    let arow = p.att_off + ((b * p.NH + h) * p.Tq + qi) * p.Tk;
    let nch = pos / 64u + 1u;
    for (var t = 0u; t < nch; t++) {
        workgroupBarrier(); // the previous chunk is read (and the query written, the first time)
        let j = t * 64u + lane;
        let seen = j <= pos;
        var s = NEG;
        if seen {
            let ko = base + j * C3 + p.C;
            var acc = 0.0;
            for (var d = 0u; d < hs; d++) { acc += dqr[d] * qkv[ko + d]; }
            s = acc * scale;
            if p.write_att == 1u { att[arow + j] = s; }
        }
        dred[lane] = s;
        workgroupBarrier();
        for (var w = 32u; w > 0u; w >>= 1u) {
            if lane < w { dred[lane] = max(dred[lane], dred[lane + w]); }
            workgroupBarrier();
        }
        let mn = max(m, dred[0]);
        let pj = select(0.0, exp(s - mn), seen);
        workgroupBarrier(); // everyone has read dred[0]
        dpr[lane] = pj;
        dred[lane] = pj;
        workgroupBarrier();
        for (var w = 32u; w > 0u; w >>= 1u) {
            if lane < w { dred[lane] = dred[lane] + dred[lane + w]; }
            workgroupBarrier();
        }
        let alpha = exp(m - mn);
        l = l * alpha + dred[0];
        var acc = o * alpha;
        let nk = min(64u, pos + 1u - t * 64u);
        if lane < hs {
            for (var k = 0u; k < nk; k++) { acc += dpr[k] * qkv[base + (t * 64u + k) * C3 + 2u * p.C + lane]; }
        }
        o = acc;
        m = mn;
    }
    let ls = m + log(l);
    if lane < hs { out[p.out_off + (b * p.Tq + qi) * p.C + h * hs + lane] = o / l; }
    if lane == 0u { lse[p.lse_off + (b * p.NH + h) * p.Tq + qi] = ls; }
    if p.write_att == 1u {
        for (var j = lane; j < p.Tk; j += 64u) {
            var v = 0.0;
            if j <= pos { v = exp(att[arow + j] - ls); }
            att[arow + j] = v;
        }
    }
}

// ---- backward: dq (and D) per query block ----
var<workgroup> bq: array<f32, 1040>;  // [16 queries][LD] q
var<workgroup> bdo: array<f32, 1040>; // [16 queries][LD] dout
var<workgroup> bk: array<f32, 520>;   // [8 keys][LD]
var<workgroup> bv: array<f32, 520>;   // [8 keys][LD]
var<workgroup> bsp: array<f32, 256>;  // [2][16 queries][8 keys]: scores, dP = dout·v; D partials first
var<workgroup> bds: array<f32, 128>;  // [16 queries][8 keys] dS = P (dP - D)

@compute @workgroup_size(16, 16)
fn attention_backward_dq(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>) {
    let lane = lid.x;
    let r = lid.y;
    let tid = r * 16u + lane;
    let h = wg.y;
    let b = wg.z;
    let T = p.Tk;
    let C3 = 3u * p.C;
    let hs = p.C / p.NH;
    let ne = (hs + 15u) / 16u;
    let scale = 1.0 / sqrt(f32(hs));
    let q0 = wg.x * 16u;
    let qi = q0 + r;
    let live = qi < T;
    let qc = min(qi, T - 1u);
    let base = p.qkv_off + b * T * C3 + h * hs;
    for (var x = tid; x < 16u * HS; x += 256u) {
        let rr = x / HS;
        let d = x % HS;
        let qq = min(q0 + rr, T - 1u);
        var qv = 0.0;
        var gv = 0.0;
        if d < hs {
            qv = qkv[base + qq * C3 + d];
            gv = dout[p.dout_off + (b * T + qq) * p.C + h * hs + d];
        }
        bq[rr * LD + d] = qv;
        bdo[rr * LD + d] = gv;
    }
    // D = dout·y for the row: a partial per lane over its channels, then the 16 in order
    let ro = (b * T + qc) * p.C + h * hs;
    var part = 0.0;
    for (var e = 0u; e < 4u; e++) {
        let d = lane + 16u * e;
        if d < hs { part += dout[p.dout_off + ro + d] * y[p.y_off + ro + d]; }
    }
    bsp[r * 16u + lane] = part;
    workgroupBarrier();
    var D = 0.0;
    for (var k = 0u; k < 16u; k++) { D += bsp[r * 16u + k]; }
    let row = (b * p.NH + h) * T + qc;
    let L = lse[p.lse_off + row];
    if live && lane == 0u { dsum[p.dsum_off + row] = D; }
    var acc = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
    let kk = lane % 8u;
    let which = lane / 8u;
    let ntiles = min(q0 + 15u, T - 1u) / 8u + 1u;
    for (var t = 0u; t < ntiles; t++) {
        let k0 = t * 8u;
        workgroupBarrier(); // the previous tile (or D's partials) is read
        for (var x = tid; x < 8u * HS; x += 256u) {
            let rr = x / HS;
            let d = x % HS;
            let j = k0 + rr;
            var kv = 0.0;
            var vv = 0.0;
            if d < hs && j < T {
                kv = qkv[base + j * C3 + p.C + d];
                vv = qkv[base + j * C3 + 2u * p.C + d];
            }
            bk[rr * LD + d] = kv;
            bv[rr * LD + d] = vv;
        }
        workgroupBarrier();
        // lanes 0..7: the score q·k of key k0+kk; lanes 8..15: dP = dout·v of that key
        var s = 0.0;
        if which == 0u {
            for (var d = 0u; d < hs; d++) { s += bq[r * LD + d] * bk[kk * LD + d]; }
        } else {
            for (var d = 0u; d < hs; d++) { s += bdo[r * LD + d] * bv[kk * LD + d]; }
        }
        bsp[which * 128u + r * 8u + kk] = s;
        workgroupBarrier();
        if which == 0u {
            let pr = select(0.0, exp(bsp[r * 8u + kk] * scale - L), k0 + kk <= qc);
            bds[r * 8u + kk] = pr * (bsp[128u + r * 8u + kk] - D);
        }
        workgroupBarrier();
        for (var e = 0u; e < 4u; e++) {
            if e < ne {
                let d = lane + 16u * e;
                var a = acc[e];
                for (var k = 0u; k < 8u; k++) { a += bds[r * 8u + k] * bk[k * LD + d]; }
                acc[e] = a;
            }
        }
    }
    if live {
        let o = p.out_off + (b * T + qi) * C3 + h * hs;
        for (var e = 0u; e < 4u; e++) {
            let d = lane + 16u * e;
            if d < hs { out[o + d] = acc[e] * scale; }
        }
    }
}

// ---- backward: dk and dv per key block ----
var<workgroup> ck: array<f32, 1040>;  // [16 keys][LD]
var<workgroup> cv: array<f32, 1040>;  // [16 keys][LD]
var<workgroup> cq: array<f32, 520>;   // [8 queries][LD] q
var<workgroup> cdo: array<f32, 520>;  // [8 queries][LD] dout
var<workgroup> csp: array<f32, 256>;  // [2][16 keys][8 queries]: scores, dP
var<workgroup> cp: array<f32, 128>;   // [16 keys][8 queries] P
var<workgroup> cds: array<f32, 128>;  // [16 keys][8 queries] dS
var<workgroup> cst: array<f32, 16>;   // the 8 queries' lse, then their D

@compute @workgroup_size(16, 16)
fn attention_backward_dkv(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>) {
    let lane = lid.x;
    let r = lid.y;
    let tid = r * 16u + lane;
    let h = wg.y;
    let b = wg.z;
    let T = p.Tk;
    let C3 = 3u * p.C;
    let hs = p.C / p.NH;
    let ne = (hs + 15u) / 16u;
    let scale = 1.0 / sqrt(f32(hs));
    let k0 = wg.x * 16u;
    let kj = k0 + r;
    let base = p.qkv_off + b * T * C3 + h * hs;
    let srow = (b * p.NH + h) * T;
    for (var x = tid; x < 16u * HS; x += 256u) {
        let rr = x / HS;
        let d = x % HS;
        let j = k0 + rr;
        var kv = 0.0;
        var vv = 0.0;
        if d < hs && j < T {
            kv = qkv[base + j * C3 + p.C + d];
            vv = qkv[base + j * C3 + 2u * p.C + d];
        }
        ck[rr * LD + d] = kv;
        cv[rr * LD + d] = vv;
    }
    var dk = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
    var dv = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
    let qq = lane % 8u;
    let which = lane / 8u;
    let nqt = (T + 7u) / 8u;
    // queries before k0 do not see the block's keys
    for (var t = k0 / 8u; t < nqt; t++) {
        let i0 = t * 8u;
        workgroupBarrier(); // the previous tile is read (and k, v written, the first time)
        for (var x = tid; x < 8u * HS; x += 256u) {
            let rr = x / HS;
            let d = x % HS;
            let i = i0 + rr;
            var qv = 0.0;
            var gv = 0.0;
            if d < hs && i < T {
                qv = qkv[base + i * C3 + d];
                gv = dout[p.dout_off + (b * T + i) * p.C + h * hs + d];
            }
            cq[rr * LD + d] = qv;
            cdo[rr * LD + d] = gv;
        }
        if tid < 8u {
            cst[tid] = lse[p.lse_off + srow + min(i0 + tid, T - 1u)];
        } else if tid < 16u {
            cst[tid] = dsum[p.dsum_off + srow + min(i0 + tid - 8u, T - 1u)];
        }
        workgroupBarrier();
        // lanes 0..7: the score q·k of query i0+qq; lanes 8..15: dP = dout·v of that query
        var s = 0.0;
        if which == 0u {
            for (var d = 0u; d < hs; d++) { s += cq[qq * LD + d] * ck[r * LD + d]; }
        } else {
            for (var d = 0u; d < hs; d++) { s += cdo[qq * LD + d] * cv[r * LD + d]; }
        }
        csp[which * 128u + r * 8u + qq] = s;
        workgroupBarrier();
        if which == 0u {
            let i = i0 + qq;
            let pr = select(0.0, exp(csp[r * 8u + qq] * scale - cst[qq]), kj <= i && i < T);
            cp[r * 8u + qq] = pr;
            cds[r * 8u + qq] = pr * (csp[128u + r * 8u + qq] - cst[8u + qq]);
        }
        workgroupBarrier();
        for (var e = 0u; e < 4u; e++) {
            if e < ne {
                let d = lane + 16u * e;
                var av = dv[e];
                var ak = dk[e];
                for (var k = 0u; k < 8u; k++) {
                    av += cp[r * 8u + k] * cdo[k * LD + d];
                    ak += cds[r * 8u + k] * cq[k * LD + d];
                }
                dv[e] = av;
                dk[e] = ak;
            }
        }
    }
    if kj < T {
        let o = p.out_off + (b * T + kj) * C3 + h * hs;
        for (var e = 0u; e < 4u; e++) {
            let d = lane + 16u * e;
            if d < hs {
                out[o + p.C + d] = dk[e] * scale;
                out[o + 2u * p.C + d] = dv[e];
            }
        }
    }
}

// ---- CPU adapters (lavapipe, SwiftShader) ----
// There every workgroup-memory or storage load whose address differs per invocation is a loop
// over the SIMD lanes and barriers are costly, so the products run as batched register-blocked
// matmuls (matmul_blocked.wgsl matmul_batched; src/gpu/attention.rs) with these row kernels
// between, one invocation per (b, h, row), binding 3 holding the rows:
// attention_softmax_forward:  the scaled scores of keys 0..=pos -> the probabilities in place
//                             (zeros past pos), and the row's lse.
// attention_probs:            backward (T = Tq = Tk): the scaled scores -> exp(s - lse) in
//                             place (zeros past the row), the forward's probabilities again.
// attention_softmax_backward: binding 1 holds the row of datt = dout·vᵀ [B,NH,T,T]; replaced in
//                             place by the scores' gradient att·(datt - D)/sqrt(hs), zero past
//                             the row, D = dout·y for the row.

fn flat(id: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return id.y * nwg.x * 64u + id.x;
}

@compute @workgroup_size(64)
fn attention_softmax_forward(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = flat(id, nwg);
    if r >= p.B * p.NH * p.Tq { return; }
    let pos = p.Tk - p.Tq + r % p.Tq;
    let a = p.att_off + r * p.Tk;
    var mx = NEG;
    for (var j = 0u; j <= pos; j++) { mx = max(mx, att[a + j]); }
    var sum = 0.0;
    for (var j = 0u; j <= pos; j++) {
        let e = exp(att[a + j] - mx);
        att[a + j] = e;
        sum += e;
    }
    let inv = 1.0 / sum;
    for (var j = 0u; j <= pos; j++) { att[a + j] *= inv; }
    for (var j = pos + 1u; j < p.Tk; j++) { att[a + j] = 0.0; }
    lse[p.lse_off + r] = mx + log(sum);
}

@compute @workgroup_size(64)
fn attention_probs(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = flat(id, nwg);
    let T = p.Tk;
    if r >= p.B * p.NH * T { return; }
    let i = r % T;
    let a = p.att_off + r * T;
    let L = lse[p.lse_off + r];
    for (var j = 0u; j <= i; j++) { att[a + j] = exp(att[a + j] - L); }
    for (var j = i + 1u; j < T; j++) { att[a + j] = 0.0; }
}

@compute @workgroup_size(64)
fn attention_softmax_backward(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = flat(id, nwg);
    let T = p.Tk;
    if r >= p.B * p.NH * T { return; }
    let i = r % T;
    let h = (r / T) % p.NH;
    let b = r / (T * p.NH);
    let hs = p.C / p.NH;
    let scale = 1.0 / sqrt(f32(hs));
    let a = p.att_off + r * T;
    let d = p.out_off + r * T;
    // D = dout_i·y_i, as the fused kernels and the CPU compute it (= Σ_j att·datt)
    let ro = (b * T + i) * p.C + h * hs;
    var dot = 0.0;
    for (var e = 0u; e < hs; e++) { dot += dout[p.dout_off + ro + e] * y[p.y_off + ro + e]; }
    for (var j = 0u; j <= i; j++) { out[d + j] = att[a + j] * (out[d + j] - dot) * scale; }
    for (var j = i + 1u; j < T; j++) { out[d + j] = 0.0; }
}
