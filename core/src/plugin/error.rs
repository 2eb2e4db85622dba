//! Errors a user sees: each names the thing at fault and how to fix it.

use super::World;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("cannot read plugin {}: {reason}. Fix the `plugin` path in your config, or write the shipped plugins with `weir plugin install` (or a whole project with `weir init`), or put the file in $WEIR_PLUGIN_DIR or in `plugins/` beside the weir binary", path.display())]
    Unreadable { path: PathBuf, reason: String },

    #[error("{} is not a WebAssembly component weir can load: {reason}. Build plugins for the wasm32-wasip2 target", path.display())]
    NotAComponent { path: PathBuf, reason: String },

    #[error("{} implements none of weir's worlds (validator, transformer, repairer, aggregator); it exports: {}", path.display(), exports.join(", "))]
    NoWorld { path: PathBuf, exports: Vec<String> },

    #[error("{} is built for contract {found}, which this weir does not know (it runs up to {newest}): upgrade weir, or build the plugin against {newest}", path.display())]
    UnknownContract {
        path: PathBuf,
        found: super::contract::Version,
        newest: super::contract::Version,
    },

    #[error("{} implements `{found}`; stage `{stage}` needs `{needed}`", path.display())]
    WrongWorld { path: PathBuf, found: World, stage: String, needed: World },

    #[error("{} needs imports weir does not provide: {reason}", path.display())]
    Link { path: PathBuf, reason: String },

    #[error("{} does not match the `{world}` world of weir:plugin@0.1.0: {reason}", path.display())]
    Instantiate { path: PathBuf, world: World, reason: String },

    #[error("stage `{stage}` ({}) refused its config: {reason}", path.display())]
    Init { stage: String, path: PathBuf, reason: String },

    #[error("stage `{stage}` ({}) {reason}", path.display())]
    Call { stage: String, path: PathBuf, reason: String },
}

impl PluginError {
    /// Whether the config is what is wrong: it names a plugin that cannot be loaded for its
    /// stage, or gives a plugin a config it refuses — not a plugin failing on a record.
    pub fn is_config(&self) -> bool {
        !matches!(self, PluginError::Call { .. })
    }
}
