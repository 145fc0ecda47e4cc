//! Every shaders/*.wgsl parses and validates with naga (the compiler wgpu uses), and declares
//! the entry points the GPU backend asks for. No GPU needed.

use std::path::Path;

/// (file, entry points the backend creates pipelines for)
const EXPECTED: &[(&str, &[&str])] = &[
    ("encoder.wgsl", &["encoder_forward", "encoder_backward", "encoder_backward_dwpe"]),
    ("layernorm.wgsl", &["layernorm_forward", "layernorm_backward", "layernorm_backward_dw"]),
    ("matmul_blocked.wgsl", &["matmul_forward", "matmul_backward_dinp", "matmul_backward_dw", "matmul_backward_dbias", "matmul_batched"]),
    ("matmul_tiled.wgsl", &["matmul_forward", "matmul_backward_dinp", "matmul_backward_dw", "matmul_batched"]),
    ("attention.wgsl", &["attention_forward", "attention_backward_dq", "attention_backward_dkv", "attention_softmax_forward", "attention_softmax_backward"]),
    ("gelu.wgsl", &["gelu_forward", "gelu_backward"]),
    ("residual.wgsl", &["residual_forward"]),
    ("crossentropy.wgsl", &["crossentropy_forward", "crossentropy_backward"]),
    ("adamw.wgsl", &["adamw_update"]),
    ("reduce.wgsl", &["reduce_partials", "reduce_final"]),
    ("guard.wgsl", &["failure_guard"]),
];

fn validate(path: &Path) -> naga::Module {
    let src = std::fs::read_to_string(path).unwrap();
    let module = naga::front::wgsl::parse_str(&src)
        .unwrap_or_else(|e| panic!("{}", e.emit_to_string_with_path(&src, &path.to_string_lossy())));
    naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::empty())
        .validate(&module)
        .unwrap_or_else(|e| panic!("{}", e.emit_to_string_with_path(&src, &path.to_string_lossy())));
    module
}

#[test]
fn every_shader_validates_and_has_its_entry_points() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "wgsl")).collect();
    files.sort();
    let names: Vec<String> = files.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    let mut want: Vec<&str> = EXPECTED.iter().map(|e| e.0).collect();
    want.sort();
    assert_eq!(names, want, "shaders/ holds exactly the files the backend loads");
    for (file, entries) in EXPECTED {
        let path = dir.join(file);
        let src = std::fs::read_to_string(&path).unwrap();
        assert!(src.starts_with("//"), "{file} starts with a comment block listing its bindings");
        let module = validate(&path);
        let have: Vec<&str> = module.entry_points.iter().map(|e| e.name.as_str()).collect();
        for e in *entries {
            assert!(have.contains(e), "{file}: no entry point {e} (has {have:?})");
        }
        // WebGPU defaults: <= 8 storage buffers per stage, <= 256 invocations per workgroup.
        let storage = module.global_variables.iter().filter(|(_, v)| matches!(v.space, naga::AddressSpace::Storage { .. })).count();
        assert!(storage <= 8, "{file}: {storage} storage buffers (WebGPU allows 8 per stage)");
        for ep in &module.entry_points {
            let n: u32 = ep.workgroup_size.iter().product();
            assert!(n <= 256, "{file}: {} uses {n} invocations per workgroup (WebGPU allows 256)", ep.name);
        }
    }
}
