//! Every shaders/*.wgsl parses and validates with naga (the compiler wgpu uses), and declares
//! exactly the entry points the GPU backend's one table of kernels (src/gpu/kernels.rs, which
//! every launcher dispatches from) lists for it. No GPU needed.

use std::path::Path;
use tinygpt::gpu::kernels::SHADERS;

fn validate(path: &Path) -> (naga::Module, naga::valid::ModuleInfo) {
    let src = std::fs::read_to_string(path).unwrap();
    let module = naga::front::wgsl::parse_str(&src)
        .unwrap_or_else(|e| panic!("{}", e.emit_to_string_with_path(&src, &path.to_string_lossy())));
    let info = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::empty())
        .validate(&module)
        .unwrap_or_else(|e| panic!("{}", e.emit_to_string_with_path(&src, &path.to_string_lossy())));
    (module, info)
}

#[test]
fn every_shader_validates_and_has_its_entry_points() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "wgsl")).collect();
    files.sort();
    let names: Vec<String> = files.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    let mut want: Vec<String> = SHADERS.iter().map(|s| s.file()).collect();
    want.sort();
    assert_eq!(names, want, "shaders/ holds exactly the files the backend loads");
    for shader in SHADERS {
        let file = shader.file();
        let path = dir.join(&file);
        let src = std::fs::read_to_string(&path).unwrap();
        assert!(src.starts_with("//"), "{file} starts with a comment block listing its bindings");
        let (module, info) = validate(&path);
        let have: Vec<&str> = module.entry_points.iter().map(|e| e.name.as_str()).collect();
        for (i, k) in shader.kernels.iter().enumerate() {
            assert_eq!(k.shader, shader.name, "{file}: {k:?} is listed under the file it names");
            assert!(have.contains(&k.entry), "{file}: no entry point {} (has {have:?})", k.entry);
            assert!(!shader.kernels[..i].contains(k), "{file}: {} listed twice", k.entry);
        }
        for e in &have {
            assert!(shader.kernels.iter().any(|k| k.entry == *e), "{file}: entry point {e} is not in src/gpu/kernels.rs");
        }
        // WebGPU defaults: <= 8 storage buffers per stage (those an entry point uses: its
        // pipeline's layout is derived from them), <= 256 invocations per workgroup.
        for (i, ep) in module.entry_points.iter().enumerate() {
            let used = info.get_entry_point(i);
            let storage = module.global_variables.iter().filter(|&(h, v)| matches!(v.space, naga::AddressSpace::Storage { .. }) && !used[h].is_empty()).count();
            assert!(storage <= 8, "{file}: {} uses {storage} storage buffers (WebGPU allows 8 per stage)", ep.name);
            let n: u32 = ep.workgroup_size.iter().product();
            assert!(n <= 256, "{file}: {} uses {n} invocations per workgroup (WebGPU allows 256)", ep.name);
        }
    }
}

/// Chromium's WGSL compiler (Tint) rejects a constant that is NaN or infinite ("value nan
/// cannot be represented as 'f32'"), which naga accepts: a shader that writes one compiles
/// natively and fails in the page. NaN and Inf come from run-time values instead.
#[test]
fn no_shader_writes_a_non_finite_constant() {
    for sh in tinygpt::gpu::kernels::SHADERS {
        for (i, line) in sh.source.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            let bad = code.contains("bitcast<f32>(0x7f") || code.contains("bitcast<f32>(0xff") || code.contains("bitcast<f32>(0x7F");
            assert!(!bad, "{}:{}: a non-finite f32 constant: {line}", sh.file(), i + 1);
        }
    }
}
