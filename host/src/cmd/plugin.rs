//! `weir plugin new|inspect|test|install`: one plugin, outside any pipeline; the shipped
//! ones written out.

use std::path::PathBuf;
#[cfg(feature = "workshop")]
use weir_core::plugin::World;
#[cfg(feature = "workshop")]
use weir_workshop::scaffold::{self, Lang};

#[derive(clap::Subcommand)]
pub enum PluginCommand {
    #[cfg(feature = "workshop")]
    /// Create a plugin project that builds and passes its own test out of the box.
    #[command(
        after_help = "Examples:\n  weir plugin new drop-health-checks --world transformer\n  weir plugin new my-validator --world validator --lang python --dir plugins"
    )]
    New {
        /// The project's name (a directory of that name is created).
        name: String,
        /// validator, transformer, repairer or aggregator.
        #[arg(long, value_parser = parse_world)]
        world: World,
        /// The language: rust, js (or javascript) or python.
        #[arg(long, value_enum, default_value = "rust")]
        lang: Lang,
        /// Where to create it (default: the current directory).
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Show the world a component implements, its exports and imports.
    #[command(after_help = "Examples:\n  weir plugin inspect target/plugins/login-analytics.wasm")]
    Inspect {
        /// The plugin, a `.wasm` component.
        file: PathBuf,
        /// Print only the JSON Schema the plugin carries for its config (stdout; nothing
        /// and exit 1 when it carries none).
        #[arg(long)]
        config_schema: bool,
    },
    /// Run one plugin over a sample of JSON lines and print what it makes of each.
    #[command(
        after_help = "Examples:\n  weir plugin test target/plugins/json-schema-validator.wasm --input samples/user-login.jsonl --stage-config stage.toml\n  # stage.toml holds what a weir.toml stage's `config = { … }` holds, one key a line:\n  #   schema = \"schemas/user-login.json\""
    )]
    Test {
        /// The plugin, a `.wasm` component.
        file: PathBuf,
        /// A sample of JSON lines to run it over.
        #[arg(long, value_name = "FILE")]
        input: PathBuf,
        /// The stage's `config` table alone, as a TOML (or `.json`) file: what a weir.toml
        /// stage's `config = { … }` holds (not a whole weir.toml); paths in it are relative
        /// to it, and it is checked against the plugin's config schema. `--config` is its
        /// earlier name, still accepted.
        #[arg(long, value_name = "FILE", alias = "config")]
        stage_config: Option<PathBuf>,
        /// Serve an enrichment table to the plugin from a JSON-lines file, one
        /// `{"key": "…", "value": …}` per line (`null` deletes); repeatable.
        #[arg(long = "table", value_name = "NAME=FILE")]
        tables: Vec<weir::served::TableFile>,
    },
    /// Write the shipped plugins (embedded in this binary) where weir looks for plugins
    /// named by file: after `cargo install`, the one step that gives weir its plugins.
    #[command(
        after_help = "Examples:\n  weir plugin install                 # plugins/ beside the weir binary\n  weir plugin install --dir /opt/weir/plugins --force"
    )]
    Install {
        /// Where to write them (default: `plugins/` beside the weir binary; or set
        /// WEIR_PLUGIN_DIR to the directory you choose).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Replace a file of the same name that differs (by default it is kept: it may be
        /// your own build of that plugin).
        #[arg(long)]
        force: bool,
    },
}

impl PluginCommand {
    pub fn run(self) -> anyhow::Result<()> {
        match self {
            #[cfg(feature = "workshop")]
            PluginCommand::New { name, world, lang, dir } => {
                let root = scaffold::new_plugin(&dir, &name, world, lang)?;
                println!("created {} ({world}, {lang:?})", root.display());
                let steps = match lang {
                    Lang::Rust => "cargo test && cargo build --release --target wasm32-wasip2",
                    Lang::Js => "npm test && bash build.sh",
                    Lang::Python => "python3 -m unittest && bash build.sh",
                };
                println!("  cd {} && {steps}", root.display());
            }
            PluginCommand::Inspect { file, config_schema: true } => {
                let schema = weir::plugin_tool::config_schema(&file)?.ok_or_else(|| {
                    anyhow::anyhow!("{} carries no config schema", file.display())
                })?;
                println!("{}", serde_json::to_string_pretty(&schema)?);
            }
            PluginCommand::Inspect { file, config_schema: false } => {
                let runtime = weir_core::runtime_for(None)?;
                print!("{}", weir::plugin_tool::inspect(&runtime, &file)?);
            }
            PluginCommand::Test { file, input, stage_config, tables } => {
                let runtime = weir_core::runtime_for(None)?;
                let tables = weir::served::load(&tables, None)?;
                let config = stage_config.as_deref();
                print!("{}", weir::plugin_tool::test(&runtime, &file, &input, config, &tables)?);
            }
            PluginCommand::Install { dir, force } => {
                let dir = dir
                    .or_else(weir_core::config::plugins_beside_binary)
                    .ok_or_else(|| anyhow::anyhow!("where is this weir binary? Pass --dir"))?;
                for installed in weir::shipped::install(&dir, force)? {
                    match installed {
                        weir::shipped::Installed::Written(path) => {
                            println!("wrote {}", path.display())
                        }
                        weir::shipped::Installed::Unchanged(path) => {
                            println!("{} is already the shipped one", path.display())
                        }
                        weir::shipped::Installed::Kept(path) => println!(
                            "kept {}: it differs from the shipped one (--force replaces it)",
                            path.display()
                        ),
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(feature = "workshop")]
fn parse_world(name: &str) -> Result<World, String> {
    World::parse(name).ok_or_else(|| {
        format!("`{name}` is not a world: validator, transformer, repairer or aggregator")
    })
}
