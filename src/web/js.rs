//! The JS side of the browser API: errors as JS Errors with `kind` and fields, serde to and
//! from JS values, and the two JS-backed things a `Session` uses: the files a user picked
//! (`BlobFolder`, an `hf::Folder`) and the link to the other training worker (`JsExchange`).

use crate::error::Error;
use crate::hf;
use crate::model::Shard;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use wasm_bindgen::prelude::*;

/// An `Error` as the page sees it: a JS Error with `kind` and its fields.
pub(super) fn js_err(e: Error) -> JsValue {
    let err = js_sys::Error::new(&e.message());
    let set = |k: &str, v: JsValue| {
        js_sys::Reflect::set(&err, &k.into(), &v).ok();
    };
    set("kind", e.kind().into());
    match &e {
        Error::Numeric { step, lr, .. } => {
            set("step", (*step).into());
            set("lr", (*lr).into());
        }
        Error::UnknownChar { ch, pos, vocab } => {
            set("ch", ch.to_string().into());
            set("pos", (*pos as u32).into());
            set("vocab", (*vocab as u32).into());
        }
        _ => {}
    }
    err.into()
}

/// A JS argument the engine cannot use (kind "config").
pub(super) fn bad_arg(what: &str, e: impl std::fmt::Display) -> JsValue {
    js_err(Error::Config(format!("{what}: {e}")))
}

pub(super) fn to_js<T: Serialize>(v: &T) -> Result<JsValue, JsValue> {
    v.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).map_err(|e| bad_arg("result", e))
}

pub(super) fn from_js<T: for<'de> Deserialize<'de>>(v: JsValue, what: &str) -> Result<T, JsValue> {
    serde_wasm_bindgen::from_value(v).map_err(|e| bad_arg(what, e))
}

pub(super) fn set(obj: &JsValue, k: &str, v: &JsValue) {
    js_sys::Reflect::set(obj, &k.into(), v).ok();
}

/// A kernel check's (op, shape, largest error) rows as `[{op, shape, rel_err}]` (the shape
/// "B,T,C,NH", empty for the CPU's own check).
pub(super) fn check_rows(rows: Vec<(&'static str, String, f32)>) -> Result<JsValue, JsValue> {
    #[derive(Serialize)]
    struct Row {
        op: &'static str,
        shape: String,
        rel_err: f32,
    }
    to_js(&rows.into_iter().map(|(op, shape, rel_err)| Row { op, shape, rel_err }).collect::<Vec<_>>())
}

/// `init`'s and `move_to`'s answer: the report, the adapter named as the browser's WebGPU one.
pub(super) fn backend_report(mut r: crate::session::BackendReport) -> Result<JsValue, JsValue> {
    if r.backend == "webgpu" {
        r.adapter = format!("WebGPU: {}", r.adapter);
    }
    to_js(&r)
}

/// The files a user picked in the page, by name, read with FileReaderSync (the engine lives
/// in a Web Worker, where synchronous reads are allowed).
pub(super) struct BlobFolder(pub HashMap<String, web_sys::File>);

impl hf::Folder for BlobFolder {
    fn label(&self, file: &str) -> String {
        file.to_string()
    }
    fn size(&self, file: &str) -> crate::error::Result<Option<u64>> {
        Ok(self.0.get(file).map(|f| f.size() as u64))
    }
    fn read_range(&self, file: &str, start: u64, end: u64) -> crate::error::Result<Vec<u8>> {
        let io = |e: JsValue| Error::Io(format!("cannot read {file}: {}", e.as_string().or_else(|| js_sys::Error::from(e).message().as_string()).unwrap_or_default()));
        let f = self.0.get(file).ok_or_else(|| Error::Io(format!("{file}: missing")))?;
        let slice = f.slice_with_f64_and_f64(start as f64, end as f64).map_err(io)?;
        let buf = web_sys::FileReaderSync::new().map_err(io)?.read_as_array_buffer(&slice).map_err(io)?;
        let bytes = js_sys::Uint8Array::new(&buf).to_vec();
        if bytes.len() as u64 != end - start {
            return Err(Error::Io(format!("{file}: read {} bytes at {start}, expected {} (did the file change?)", bytes.len(), end - start)));
        }
        Ok(bytes)
    }
}

/// The page's link between its training workers: a JS function that posts this worker's part
/// of a step and resolves to the other worker's (worker.js, over a MessagePort).
pub(super) struct JsExchange {
    pub f: js_sys::Function,
    /// This worker's index: the sum is in worker order.
    pub k: usize,
}

impl crate::session::Exchange for JsExchange {
    fn exchange<'a>(&'a mut self, step: u32, mine: Shard) -> std::pin::Pin<Box<dyn std::future::Future<Output = crate::error::Result<Shard>> + 'a>> {
        Box::pin(async move {
            let fail = |m: String| Error::State(format!("the other training worker, step {step}: {m}"));
            let args = js_sys::Array::of5(&step.into(), &mine.loss_sum.into(), &mine.hit_sum.into(), &mine.positions.into(), &js_sys::Float32Array::from(mine.grads.as_slice()).into());
            args.push(&mine.lr.into());
            let p = self.f.apply(&JsValue::NULL, &args).map_err(|e| fail(format!("{e:?}")))?;
            let v = wasm_bindgen_futures::JsFuture::from(js_sys::Promise::from(p)).await.map_err(|e| fail(e.as_string().unwrap_or_else(|| format!("{e:?}"))))?;
            let get = |k: &str| js_sys::Reflect::get(&v, &k.into()).map_err(|_| fail(format!("no {k}")));
            let num = |k: &str| get(k)?.as_f64().map(|x| x as f32).ok_or_else(|| fail(format!("{k} is not a number")));
            let grads: js_sys::Float32Array = get("grads")?.dyn_into().map_err(|_| fail("grads is not a Float32Array".into()))?;
            let theirs = Shard { loss_sum: num("loss_sum")?, hit_sum: num("hit_sum")?, positions: num("positions")?, grads: grads.to_vec(), lr: num("lr")? };
            if theirs.grads.len() != mine.grads.len() {
                return Err(fail(format!("{} gradients, expected {}", theirs.grads.len(), mine.grads.len())));
            }
            Ok(Shard::sum(if self.k == 0 { vec![mine, theirs] } else { vec![theirs, mine] }))
        })
    }
}
