//! Loading plugins: the shared engine, the sandbox each instance runs in, and
//! telling a component's world before it is used.

mod bindings;
pub mod cache;
mod clocks;
pub mod contract;
pub(crate) mod described;
pub(crate) mod error;
pub(crate) mod fault;
pub(crate) mod limiter;
pub mod limits;
pub(crate) mod returned;
pub(crate) mod sandbox;
pub(crate) mod world;

use cache::CompileCache;
pub use described::{config_schema, CONFIG_SCHEMA_SECTION, MAX_CONFIG_SCHEMA_BYTES};
pub use error::PluginError;
pub use fault::{Fault, FaultKind};
use sandbox::Sandbox;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::{Component, InstancePre, Linker};
use wasmtime::{Config, Engine};
pub use world::World;

/// How often the engine's epoch advances; CPU budgets are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// One engine and linker for the whole process; every plugin instance shares them.
pub struct Runtime {
    engine: Engine,
    linker: Linker<Sandbox>,
    cache: CompileCache,
}

impl Runtime {
    pub fn new(cache: CompileCache) -> anyhow::Result<Arc<Runtime>> {
        let engine = Engine::new(&engine_config()).map_err(wasm_error)?;
        start_epoch_ticker(&engine);
        let mut linker = Linker::new(&engine);
        // WASI is linked because wasm32-wasip2 guests import it; the sandbox grants none of it.
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(wasm_error)?;
        clocks::never_wait(&mut linker).map_err(wasm_error)?;
        crate::plugin::bindings::host::add_to_linker::<
            Sandbox,
            wasmtime::component::HasSelf<Sandbox>,
        >(&mut linker, |sandbox| sandbox)
        .map_err(wasm_error)?;
        crate::plugin::bindings::v2::host::add_to_linker::<
            Sandbox,
            wasmtime::component::HasSelf<Sandbox>,
        >(&mut linker, |sandbox| sandbox)
        .map_err(wasm_error)?;
        crate::plugin::bindings::v3::host::add_to_linker::<
            Sandbox,
            wasmtime::component::HasSelf<Sandbox>,
        >(&mut linker, |sandbox| sandbox)
        .map_err(wasm_error)?;
        crate::plugin::bindings::v3::tables::add_to_linker::<
            Sandbox,
            wasmtime::component::HasSelf<Sandbox>,
        >(&mut linker, |sandbox| sandbox)
        .map_err(wasm_error)?;
        Ok(Arc::new(Runtime { engine, linker, cache }))
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Reads, compiles (or loads from the cache) and pre-links a plugin.
    pub fn load(&self, path: &Path) -> Result<Plugin, PluginError> {
        let wasm = std::fs::read(path).map_err(|e| PluginError::Unreadable {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let started = std::time::Instant::now();
        let compiling = || {
            tracing::info!(
                "compiling plugin {} ({} KiB): on a first start only, then cached",
                path.display(),
                wasm.len() / 1024
            )
        };
        let (component, from_cache) =
            self.cache.load(&self.engine, &wasm, &compiling).map_err(|e| {
                PluginError::NotAComponent { path: path.to_path_buf(), reason: format!("{e:#}") }
            })?;
        if !from_cache {
            let took = started.elapsed().as_secs_f64();
            tracing::info!("compiled plugin {} in {took:.1} s", path.display());
        }
        // A newer contract is refused by name, before its exports are judged by ours.
        let contract = contract::version_of(&component, &self.engine);
        if let Some(found) = contract.filter(|found| !contract::KNOWN.contains(found)) {
            return Err(PluginError::UnknownContract {
                path: path.to_path_buf(),
                found,
                newest: contract::Version::newest_known(),
            });
        }
        let world = World::of(&component, &self.engine).ok_or_else(|| PluginError::NoWorld {
            path: path.to_path_buf(),
            exports: component
                .component_type()
                .exports(&self.engine)
                .map(|(name, _)| name.to_string())
                .collect(),
        })?;
        let pre = self.linker.instantiate_pre(&component).map_err(|e| PluginError::Link {
            path: path.to_path_buf(),
            reason: format!("{e:#}"),
        })?;
        let contract = contract.unwrap_or_else(contract::Version::newest_known);
        world.type_check(&pre, contract).map_err(|e| PluginError::Instantiate {
            path: path.to_path_buf(),
            world,
            reason: format!("{e:#}"),
        })?;
        Ok(Plugin { path: path.to_path_buf(), component, world, contract, pre, from_cache })
    }
}

/// A compiled, linked component, ready to be instantiated as many times as needed.
#[derive(Clone)]
pub struct Plugin {
    pub path: PathBuf,
    pub component: Component,
    pub world: World,
    /// The contract version it was built against.
    pub contract: contract::Version,
    pub pre: InstancePre<Sandbox>,
    pub from_cache: bool,
}

impl Plugin {
    /// Checks the plugin implements the world a stage needs.
    pub fn expect_world(&self, stage: &str, needed: World) -> Result<(), PluginError> {
        if self.world == needed {
            Ok(())
        } else {
            Err(PluginError::WrongWorld {
                path: self.path.clone(),
                found: self.world,
                stage: stage.to_string(),
                needed,
            })
        }
    }
}

/// wasmtime's errors are not `std::error::Error`; keep their whole chain as text.
pub fn wasm_error(error: wasmtime::Error) -> anyhow::Error {
    anyhow::anyhow!("{error:#}")
}

fn engine_config() -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    // Plugins are synchronous; without async support a call costs ~0.5 µs instead of ~1.4 µs.
    config.concurrency_support(false);
    // CPU budgets: a call that runs past its deadline traps instead of hanging the host.
    config.epoch_interruption(true);
    config.cranelift_opt_level(wasmtime::OptLevel::Speed);
    // `perf record` can name the plugins' functions (a /tmp/perf-PID.map per process).
    if std::env::var_os("WEIR_PERF_MAP").is_some() {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    config
}

/// Advances the engine's epoch until the engine is dropped.
fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("weir-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("spawn the epoch ticker thread");
}
