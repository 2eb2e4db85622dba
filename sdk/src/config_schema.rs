//! A plugin describes its own config: a JSON Schema carried in the component's
//! `weir:config-schema` custom section. weir checks each stage's config against it before
//! the plugin starts (naming the key), and `weir plugin inspect` prints it. A plugin
//! without one still loads; no contract change is involved.

/// The custom section's name, as weir reads it.
pub const SECTION: &str = "weir:config-schema";

/// Embeds the JSON Schema in the file at `$path` (relative to the calling source file,
/// as `include_bytes!`) into the plugin. Once per plugin, at the crate's top level:
///
/// ```ignore
/// weir_plugin::config_schema!("../config.schema.json");
/// ```
#[macro_export]
macro_rules! config_schema {
    ($path:literal) => {
        // Kept by the linker (`used`) in the module's custom section; nothing reads it at
        // run time. Native builds (the guest's unit tests) carry nothing.
        #[cfg(target_family = "wasm")]
        #[unsafe(link_section = "weir:config-schema")]
        #[used]
        static WEIR_CONFIG_SCHEMA: [u8; include_bytes!($path).len()] = *include_bytes!($path);
    };
}
