use std::sync::Arc;

use crate::{ExecutionEngine, ModuleTag};

/// A plug-in engine: a factory a third-party crate submits with `inventory::submit!`.
///
/// The host collects every submitted plug-in at start-up and never names the crate: a node
/// gets the engine by linking the crate (e.g. `use tos_engine_wasm as _;` in the binary).
///
/// ```ignore
/// inventory::submit! {
///     tos_engine_api::EnginePlugin {
///         name: "wasm",
///         tag: tos_engine_api::ModuleTag::WASM,
///         create: || Ok(std::sync::Arc::new(MyEngine::new(MyConfig::default())?)),
///     }
/// }
/// ```
#[derive(Debug)]
pub struct EnginePlugin {
    /// The engine's name, as [`ExecutionEngine::name`] reports it.
    pub name: &'static str,
    /// The tag it runs.
    pub tag: ModuleTag,
    /// Builds the engine with its default configuration.
    pub create: fn() -> Result<Arc<dyn ExecutionEngine>, String>,
}

inventory::collect!(EnginePlugin);

/// Every plug-in engine linked into this binary, in no particular order.
pub fn plugins() -> impl Iterator<Item = &'static EnginePlugin> {
    inventory::iter::<EnginePlugin>.into_iter()
}
