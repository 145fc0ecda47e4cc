//! Every WGSL file the GPU backend compiles and every entry point it dispatches, in one table:
//! the only place their names are written. A launcher names a kernel by its constant
//! (`kernels::residual::FORWARD`); tests/gpu_shaders.rs checks the table against shaders/.

/// One compute entry point of one shader file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Kernel {
    /// The shader file's name, shaders/<shader>.wgsl.
    pub shader: &'static str,
    /// The `@compute` function.
    pub entry: &'static str,
}

/// One WGSL file: its name, its source (compiled into the binary) and the kernels in it.
pub struct Shader {
    pub name: &'static str,
    pub source: &'static str,
    pub kernels: &'static [Kernel],
}

impl Shader {
    /// The file's name in shaders/.
    pub fn file(&self) -> String {
        format!("{}.wgsl", self.name)
    }
}

/// The suffix of the entry points that CPU adapters run instead of the kernel named without it
/// (one invocation per row: barriers are slow there). Each such pair lives in one file.
pub const SERIAL: &str = "_serial";

/// The boolean override (in both matmul files) that makes `matmul_batched` read B through A's
/// binding, for operands in one buffer.
pub const B_IN_A: &str = "B_IN_A";

/// `shaders! { file { CONST = "entry", ... } ... }`: a module of `Kernel` constants per file,
/// and `SHADERS` listing every file with its source and kernels.
macro_rules! shaders {
    ($($file:ident { $($name:ident = $entry:literal),* $(,)? })*) => {
        $(
            #[doc = concat!("The entry points of shaders/", stringify!($file), ".wgsl.")]
            pub mod $file {
                use super::Kernel;
                $(pub const $name: Kernel = Kernel { shader: stringify!($file), entry: $entry };)*
            }
        )*
        /// Every shader file the backend loads.
        pub const SHADERS: &[Shader] = &[$(Shader {
            name: stringify!($file),
            source: include_str!(concat!("../../shaders/", stringify!($file), ".wgsl")),
            kernels: &[$($file::$name),*],
        }),*];
    };
}

shaders! {
    encoder { FORWARD = "encoder_forward", BACKWARD = "encoder_backward", BACKWARD_DWPE = "encoder_backward_dwpe" }
    layernorm {
        FORWARD = "layernorm_forward",
        BACKWARD = "layernorm_backward",
        BACKWARD_DW = "layernorm_backward_dw",
        FORWARD_SERIAL = "layernorm_forward_serial",
        BACKWARD_SERIAL = "layernorm_backward_serial",
        BACKWARD_DW_SERIAL = "layernorm_backward_dw_serial",
    }
    matmul_blocked {
        FORWARD = "matmul_forward",
        BACKWARD_DINP = "matmul_backward_dinp",
        BACKWARD_DW = "matmul_backward_dw",
        BATCHED = "matmul_batched",
    }
    matmul_tiled { FORWARD = "matmul_forward", BACKWARD_DINP = "matmul_backward_dinp", BACKWARD_DW = "matmul_backward_dw", BATCHED = "matmul_batched" }
    attention {
        FORWARD = "attention_forward",
        DECODE = "attention_decode",
        BACKWARD_DQ = "attention_backward_dq",
        BACKWARD_DKV = "attention_backward_dkv",
        SOFTMAX_FORWARD = "attention_softmax_forward",
        PROBS = "attention_probs",
        SOFTMAX_BACKWARD = "attention_softmax_backward",
    }
    gelu { FORWARD = "gelu_forward", BACKWARD = "gelu_backward" }
    residual { FORWARD = "residual_forward" }
    head_mask { FORWARD = "head_mask" }
    dropout { FORWARD = "dropout" }
    crossentropy {
        FORWARD = "crossentropy_forward",
        BACKWARD = "crossentropy_backward",
        FUSED = "crossentropy_fused",
        FORWARD_SERIAL = "crossentropy_forward_serial",
        BACKWARD_SERIAL = "crossentropy_backward_serial",
        FUSED_SERIAL = "crossentropy_fused_serial",
    }
    adamw { UPDATE = "adamw_update" }
    reduce { PARTIALS = "reduce_partials", FINAL = "reduce_final", SMALL = "reduce_small" }
    guard { FAILURE_GUARD = "failure_guard" }
}
